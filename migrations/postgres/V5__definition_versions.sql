-- Definition versions: every workflow file a node loads is kept here, addressed by the
-- hash its instances record, so that an instance runs, resumes and times out with the
-- version it started with on every node, whatever files that node has. Rows are never
-- deleted: a version an instance uses must stay readable.
CREATE TABLE definitions (
    hash        TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    source      BYTEA NOT NULL,
    loaded_at   BIGINT NOT NULL
);
CREATE INDEX definitions_workflow ON definitions (workflow_id, loaded_at);

-- Retention purges ended instances oldest first; open ones are never in this index. Their
-- outbound calls are deleted by instance, which needs an index of its own.
CREATE INDEX instances_ended ON instances (updated_at, id)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX outbox_instance ON outbox (instance_id);
