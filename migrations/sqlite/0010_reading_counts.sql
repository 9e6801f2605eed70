-- Readings stored per minute (sqlite), one row per minute and instance,
-- written in the same transaction as the readings they count: the fleet's
-- rate for the overview without counting the readings table. The writer
-- deletes minutes older than two days.
CREATE TABLE reading_counts (
    minute INTEGER NOT NULL, -- Unix time / 60
    instance TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, instance)
);
