-- Readings stored through one instance reach the live streams and MQTT
-- subscribers of the others. Too many for the `changes` table: each
-- INSERT statement (up to 500 rows of a group commit) sends one NOTIFY on
-- `vigil_readings`, delivered at commit, naming the instance
-- (application_name) and the ids it stored as runs `lo-hi,lo-hi`; the
-- other instances read those rows back.
--
-- Each connection takes ids in blocks of 1000, so that one statement's ids
-- are one run even while other instances insert at the same time.
ALTER TABLE readings ALTER COLUMN id SET CACHE 1000;

CREATE FUNCTION vigil_readings_stored() RETURNS trigger
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
                      coalesce(current_setting('application_name', true), '') || ' ' || runs);
    RETURN NULL;
END
$$;
CREATE TRIGGER readings_announce AFTER INSERT ON readings
    REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_readings_stored();
