-- A write sent in a pipeline without waiting for its row count checks that count itself:
-- the statement fails, and the transaction with it before its COMMIT or its command's
-- RELEASE runs, unless exactly one row changed. SQLSTATE 40001 (serialization failure)
-- makes the engine run the command again, which then reads the row as it now is. Used to
-- close a wait its command read open under its instance's lock (`CLOSE_WAIT_READ_OPEN`),
-- which saves a round trip per callback.
CREATE FUNCTION holdpoint_expect_one(changed bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF changed <> 1 THEN
        RAISE EXCEPTION 'expected one row to change, % did', changed
            USING ERRCODE = '40001';
    END IF;
END
$$;
