-- One index on readings, not two (postgres): the query of stored readings
-- walks (device_id, ts) and filters the sensor, so the second index cost a
-- B-tree write per reading and served nothing.
DROP INDEX IF EXISTS readings_device_sensor_ts;
