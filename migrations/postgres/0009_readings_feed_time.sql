-- The readings announcement also says when the rows were written, in
-- microseconds by the database's clock (`origin runs at_us`): the other
-- instances measure the feed's lag from it (`vigil_feed_readings_lag_seconds`).
CREATE OR REPLACE FUNCTION vigil_readings_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    runs TEXT;
BEGIN
    SELECT string_agg(lo || '-' || hi, ',' ORDER BY lo) INTO runs
    FROM (SELECT min(id) AS lo, max(id) AS hi
          FROM (SELECT id, id - row_number() OVER (ORDER BY id) AS island FROM stored) ids
          GROUP BY island) islands;
    IF runs IS NULL THEN
        RETURN NULL;
    END IF;
    -- A NOTIFY payload holds under 8000 bytes: past that, one run from
    -- the lowest id to the highest, at the (rare) cost of publishing twice
    -- the rows of other statements that fell in between.
    IF length(runs) > 7000 THEN
        SELECT min(id) || '-' || max(id) INTO runs FROM stored;
    END IF;
    PERFORM pg_notify('vigil_readings',
                      coalesce(current_setting('application_name', true), '') || ' ' || runs
                      || ' ' || (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT);
    RETURN NULL;
END
$$;
