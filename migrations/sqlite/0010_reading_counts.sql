-- Readings stored per minute (sqlite), one row per minute and instance,
-- written in the same transaction as the readings they count: the fleet's
-- rate for the overview without counting the readings table. The writer
-- deletes minutes older than two days. WITHOUT ROWID: the key is the
-- table, one B-tree and one page written per commit instead of two.
CREATE TABLE reading_counts (
    minute INTEGER NOT NULL, -- Unix time / 60
    instance TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, instance)
) WITHOUT ROWID;
