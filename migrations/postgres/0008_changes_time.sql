-- When a change was written, in microseconds and by the clock at the
-- write (not the transaction's start): instances measure the feed's lag
-- from it (`vigil_feed_lag_seconds`).
ALTER TABLE changes
    ADD COLUMN at_us BIGINT NOT NULL
    DEFAULT ((EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT);
