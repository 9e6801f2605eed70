-- Readings stored per minute (postgres), one row per minute and instance,
-- written in the same transaction as the readings they count: the fleet's
-- rate for the overview without counting the readings table. A row per
-- instance, so two instances never wait on each other's row lock. The
-- writer deletes minutes older than two days.
CREATE TABLE reading_counts (
    minute BIGINT NOT NULL, -- Unix time / 60
    instance TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, instance)
);
