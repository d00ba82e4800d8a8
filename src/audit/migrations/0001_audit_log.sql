-- The audit trail of every replica: one chain per writer (a process start), each a sequence of
-- lines (records and checkpoints) numbered by `pos`. `line` is the canonical record, the only
-- thing `audit verify` trusts; the other columns repeat its fields for `audit search`.
CREATE TABLE audit_log (
    chain_id   text        NOT NULL,
    pos        bigint      NOT NULL CHECK (pos > 0),
    kind       text        NOT NULL CHECK (kind IN ('record', 'checkpoint')),
    time       timestamptz NOT NULL,
    seq        bigint,
    decision   text,
    client_id  text,
    action     text,
    bucket     text,
    object     text,
    request_id text,
    line       text        NOT NULL,
    PRIMARY KEY (chain_id, pos)
);

CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_object ON audit_log (bucket, object text_pattern_ops);
CREATE INDEX audit_log_client ON audit_log (client_id, time);
CREATE INDEX audit_log_checkpoints ON audit_log (chain_id, pos) WHERE kind = 'checkpoint';

-- Append-only, second line of defence behind the grants: even a role that was granted more
-- than INSERT and SELECT cannot change or remove a line without first dropping this trigger
-- (which needs the table's owner, and shows in the database's own logs).
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

REVOKE ALL ON audit_log FROM PUBLIC;
