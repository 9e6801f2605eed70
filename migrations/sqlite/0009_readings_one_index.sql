-- One index on readings, not two (sqlite). The only query of stored
-- readings takes a device, an optional sensor and a time range, and its
-- plan walks (device_id, ts) in either case: the sensor is a filter, never
-- a key, so readings_device_sensor_ts was written on every insert and
-- read by nothing. Each index is a second B-tree write per reading.
DROP INDEX IF EXISTS readings_device_sensor_ts;
