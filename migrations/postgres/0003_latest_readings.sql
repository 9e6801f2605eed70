-- The newest reading of each sensor of each device, kept by the writer so
-- device lists show latest values without scanning readings (postgres).
CREATE TABLE latest_readings (
    device_id BIGINT NOT NULL REFERENCES devices (id),
    sensor    TEXT   NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    unit      TEXT,
    ts        BIGINT NOT NULL,
    PRIMARY KEY (device_id, sensor)
);
