-- The change feed between instances sharing this database. Each change that
-- the other instances must apply becomes a row here, written by a trigger
-- inside the transaction that makes the change, with a NOTIFY on
-- `vigil_changes` (delivered at commit: nothing is announced that did not
-- commit). Rows carry ids, not data; instances read them by sequence
-- number, after every notification and after a reconnect. `origin` is the
-- application_name of the connection that made the change (each instance
-- sets its own), so that an instance skips its own changes.
CREATE TABLE changes (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind   TEXT   NOT NULL,
    ref    TEXT   NOT NULL,
    origin TEXT,
    at     BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

CREATE FUNCTION vigil_announce(p_kind TEXT, p_ref TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO changes (kind, ref, origin)
    VALUES (p_kind, p_ref, current_setting('application_name', true));
    -- Identical notifications of one transaction reach listeners once.
    PERFORM pg_notify('vigil_changes', '');
END
$$;

-- A token revoked, for any reason (logout, admin, its user or device).
CREATE FUNCTION vigil_token_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.blacklist <> 0 AND OLD.blacklist = 0 THEN
        PERFORM vigil_announce('token', NEW.token_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tokens_announce AFTER UPDATE OF blacklist ON tokens
    FOR EACH ROW EXECUTE FUNCTION vigil_token_changed();

-- A device enrolled, revoked, or given another certificate (not its
-- last-seen time).
CREATE FUNCTION vigil_device_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.cert_sha256 IS DISTINCT FROM OLD.cert_sha256
       OR NEW.cert_serial IS DISTINCT FROM OLD.cert_serial THEN
        PERFORM vigil_announce('device', NEW.id::TEXT);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER devices_announce AFTER INSERT OR UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION vigil_device_changed();

-- A command created, or its status changed (delivered, answered, expired,
-- cancelled).
CREATE FUNCTION vigil_command_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM vigil_announce('command', NEW.id::TEXT);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER commands_announce AFTER INSERT OR UPDATE ON commands
    FOR EACH ROW EXECUTE FUNCTION vigil_command_changed();
