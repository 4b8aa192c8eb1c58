//! Embedded store on SQLite (rusqlite, bundled).
//!
//! One connection serves the whole process, behind an async mutex: SQLite has a single
//! writer anyway, and `BEGIN IMMEDIATE` makes every transaction a writer from its first
//! statement, so commands are serialised and the locking contract of [`super::Tx`] holds
//! trivially. The journal is WAL with `synchronous = FULL`: a transaction is on disk when
//! `COMMIT` returns, so an acknowledgement survives a crash or power loss of the process.
//! Other processes (the CLI) may open the same file; `busy_timeout` makes them wait.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use super::model::*;
use super::{Backend, Store, StoreError, Tx};

mod accounts;
mod backup;
mod inbound;
mod overview;
mod versions;

pub use backup::{Backup, backup};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    work: Arc<Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        embedded::migrations::runner().run(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            work: Arc::new(Notify::new()),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let conn = self.conn.clone().lock_owned().await;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteTx {
            conn,
            finished: false,
            signal: false,
            work: self.work.clone(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let conn = self.conn.lock().await;
        conn.query_row("SELECT count(*) FROM settings", [], |row| {
            row.get::<_, i64>(0)
        })?;
        Ok(())
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    finished: bool,
    signal: bool,
    work: Arc<Notify>,
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped mid-way (an error or a cancelled request): undo everything.
            if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(%error, "sqlite rollback failed");
            }
        }
    }
}

fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, error.into()))
}

fn object_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Map<String, Value>> {
    match json_column(row, index)? {
        Value::Object(map) => Ok(map),
        _ => Err(rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            "expected a json object".into(),
        )),
    }
}

fn enum_column<T>(
    row: &Row<'_>,
    index: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            format!("unknown value {text}").into(),
        )
    })
}

const INSTANCE_COLUMNS: &str = "id, workflow_id, definition_hash, folio, status, current_step, \
     fields, trigger_event, reply, error, created_at, updated_at";

fn instance_row(row: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    let reply: Option<String> = row.get(8)?;
    Ok(InstanceRow {
        id: row.get(0)?,
        workflow_id: row.get(1)?,
        definition_hash: row.get(2)?,
        folio: row.get(3)?,
        status: enum_column(row, 4, InstanceStatus::parse)?,
        current_step: row.get(5)?,
        fields: object_column(row, 6)?,
        trigger_event: json_column(row, 7)?,
        reply: reply
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(8, Type::Text, error.into())
            })?,
        error: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

const WAIT_COLUMNS: &str =
    "id, instance_id, step_id, kind, event_name, scope, state, deadline, created_at, closed_at";

fn wait_row(row: &Row<'_>) -> rusqlite::Result<WaitRow> {
    let scope: Option<String> = row.get(5)?;
    Ok(WaitRow {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        step_id: row.get(2)?,
        kind: enum_column(row, 3, WaitKind::parse)?,
        event_name: row.get(4)?,
        scope: scope.as_deref().and_then(EventScope::parse),
        state: enum_column(row, 6, WaitState::parse)?,
        deadline: row.get(7)?,
        created_at: row.get(8)?,
        closed_at: row.get(9)?,
    })
}

const OUTBOX_COLUMNS: &str = "id, instance_id, wait_id, kind, request, state, attempts, \
     next_attempt_at, lease_owner, lease_until, last_error";

fn outbox_row(row: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        wait_id: row.get(2)?,
        kind: enum_column(row, 3, OutboxKind::parse)?,
        request: json_column(row, 4)?,
        state: enum_column(row, 5, OutboxState::parse)?,
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        lease_owner: row.get(8)?,
        lease_until: row.get(9)?,
        last_error: row.get(10)?,
    })
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        self.finished = true;
        if self.signal {
            self.work.notify_waiters();
        }
        Ok(())
    }

    fn signal_work_on_commit(&mut self) {
        self.signal = true;
    }

    async fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?;
        Ok(stmt.query_row([key], |row| row.get(0)).optional()?)
    }

    async fn insert_setting_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    async fn replace_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    async fn insert_instance(&mut self, new: &NewInstance) -> Result<i64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO instances (workflow_id, definition_hash, folio, status, fields, \
             trigger_event, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        )?;
        let id = stmt.query_row(
            params![
                new.workflow_id,
                new.definition_hash,
                new.folio,
                new.status.as_str(),
                serde_json::to_string(&new.fields)?,
                serde_json::to_string(&new.trigger_event)?,
                new.now
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    async fn lock_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        // The whole database is locked by BEGIN IMMEDIATE; a plain read is enough.
        self.get_instance(id).await
    }

    async fn get_instances(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>, StoreError> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([serde_json::to_string(ids)?], instance_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn get_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([id], instance_row).optional()?)
    }

    async fn update_instance(&mut self, row: &InstanceRow) -> Result<(), StoreError> {
        let reply = row.reply.as_ref().map(serde_json::to_string).transpose()?;
        self.conn
            .prepare_cached(
                "UPDATE instances SET status = ?2, current_step = ?3, fields = ?4, reply = ?5, \
                 error = ?6, updated_at = ?7 WHERE id = ?1",
            )?
            .execute(params![
                row.id,
                row.status.as_str(),
                row.current_step,
                serde_json::to_string(&row.fields)?,
                reply,
                row.error,
                row.updated_at
            ])?;
        Ok(())
    }

    async fn insert_wait(&mut self, new: &NewWait) -> Result<i64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, deadline, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7) RETURNING id",
        )?;
        let id = stmt.query_row(
            params![
                new.instance_id,
                new.step_id,
                new.kind.as_str(),
                new.event_name,
                new.scope.map(EventScope::as_str),
                new.deadline,
                new.now
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    async fn get_wait(&mut self, id: i64) -> Result<Option<WaitRow>, StoreError> {
        let sql = format!("SELECT {WAIT_COLUMNS} FROM waits WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], wait_row)
            .optional()?)
    }

    async fn close_wait(&mut self, id: i64, to: WaitState, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE waits SET state = ?2, closed_at = ?3 WHERE id = ?1 AND state = 'open'",
            )?
            .execute(params![id, to.as_str(), now])?;
        Ok(changed == 1)
    }

    async fn extend_wait(&mut self, id: i64, deadline: i64) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .prepare_cached("UPDATE waits SET deadline = ?2 WHERE id = ?1 AND state = 'open'")?
            .execute(params![id, deadline])?;
        Ok(changed == 1)
    }

    async fn open_waits_for_event(
        &mut self,
        name: &str,
        scope: EventScope,
    ) -> Result<Vec<WaitRow>, StoreError> {
        let sql = format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE state = 'open' AND event_name = ?1 \
             AND scope = ?2 ORDER BY id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![name, scope.as_str()], wait_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn lock_due_waits(&mut self, now: i64, limit: i64) -> Result<Vec<WaitRow>, StoreError> {
        let sql = format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE state = 'open' AND deadline <= ?1 \
             ORDER BY deadline, id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now, limit], wait_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn list_waits(&mut self, filter: &WaitFilter) -> Result<Vec<WaitRow>, StoreError> {
        // Only the filters given become conditions: `(?1 IS NULL OR x = ?1)` keeps SQLite
        // from using an index, which made every instance view scan all waits.
        let mut conditions: Vec<String> = Vec::new();
        // Written into the SQL (a fixed word, never input text): SQLite uses a partial index
        // on open waits only when the query itself says `state = 'open'`.
        if let Some(state) = filter.state {
            conditions.push(format!("w.state = '{}'", state.as_str()));
        }
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut condition = |sql: &str, value: rusqlite::types::Value| {
            values.push(value);
            conditions.push(sql.replace('?', &format!("?{}", values.len())));
        };
        use rusqlite::types::Value as V;
        if let Some(workflow) = &filter.workflow_id {
            condition("i.workflow_id = ?", V::Text(workflow.clone()));
        }
        if let Some(kind) = filter.kind {
            condition("w.kind = ?", V::Text(kind.as_str().into()));
        }
        if let Some(event) = &filter.event_name {
            condition("w.event_name = ?", V::Text(event.clone()));
        }
        if let Some(instance) = filter.instance_id {
            condition("w.instance_id = ?", V::Integer(instance));
        }
        if let Some(ids) = &filter.workflow_ids {
            condition(
                "i.workflow_id IN (SELECT value FROM json_each(?))",
                V::Text(serde_json::to_string(ids)?),
            );
        }
        values.push(V::Integer(filter.limit));
        let sql = format!(
            "SELECT {} FROM waits w JOIN instances i ON i.id = w.instance_id {}{} \
             ORDER BY w.id LIMIT ?{}",
            prefixed(WAIT_COLUMNS, "w."),
            if conditions.is_empty() { "" } else { "WHERE " },
            conditions.join(" AND "),
            values.len()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), wait_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn append_history(&mut self, entry: &NewHistory) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, \
                 source, message_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                entry.instance_id,
                entry.at,
                entry.kind,
                entry.step_id,
                entry.wait_id,
                entry.actor,
                entry.dialect,
                entry.source,
                entry.message_id,
                serde_json::to_string(&entry.detail)?
            ])?;
        Ok(())
    }

    async fn history(&mut self, instance_id: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, instance_id, at, kind, step_id, wait_id, actor, dialect, source, \
             message_id, detail FROM history WHERE instance_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([instance_id], |row| {
            Ok(HistoryRow {
                id: row.get(0)?,
                instance_id: row.get(1)?,
                at: row.get(2)?,
                kind: row.get(3)?,
                step_id: row.get(4)?,
                wait_id: row.get(5)?,
                actor: row.get(6)?,
                dialect: row.get(7)?,
                source: row.get(8)?,
                message_id: row.get(9)?,
                detail: json_column(row, 10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn buffer_event(&mut self, event: &NewBufferedEvent) -> Result<i64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO buffered_events (name, scope, properties, actor, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?;
        let id = stmt.query_row(
            params![
                event.name,
                event.scope.as_str(),
                serde_json::to_string(&event.properties)?,
                event.actor,
                event.now,
                event.expires_at
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    async fn take_buffered_event(
        &mut self,
        name: &str,
        scope: EventScope,
        now: i64,
    ) -> Result<Option<BufferedEventRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM buffered_events WHERE id = (SELECT id FROM buffered_events \
             WHERE name = ?1 AND scope = ?2 AND expires_at > ?3 ORDER BY id LIMIT 1) \
             RETURNING id, name, scope, properties, actor, created_at, expires_at",
        )?;
        let row = stmt
            .query_row(params![name, scope.as_str(), now], |row| {
                Ok(BufferedEventRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    scope: enum_column(row, 2, EventScope::parse)?,
                    properties: object_column(row, 3)?,
                    actor: row.get(4)?,
                    created_at: row.get(5)?,
                    expires_at: row.get(6)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    async fn purge_expired(&mut self, now: i64) -> Result<u64, StoreError> {
        let events = self
            .conn
            .prepare_cached("DELETE FROM buffered_events WHERE expires_at <= ?1")?
            .execute([now])?;
        let keys = self
            .conn
            .prepare_cached("DELETE FROM dedup_keys WHERE expires_at <= ?1")?
            .execute([now])?;
        Ok((events + keys) as u64)
    }

    async fn claim_dedup_key(
        &mut self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<DedupClaim, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM dedup_keys WHERE key = ?1 AND expires_at <= ?2")?
            .execute(params![key, now])?;
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO dedup_keys (key, outcome, created_at, expires_at) \
                 VALUES (?1, NULL, ?2, ?3) ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![key, now, expires_at])?;
        if inserted == 1 {
            return Ok(DedupClaim::Claimed);
        }
        let outcome: Option<String> = self
            .conn
            .prepare_cached("SELECT outcome FROM dedup_keys WHERE key = ?1")?
            .query_row([key], |row| row.get(0))?;
        Ok(DedupClaim::Existing(outcome))
    }

    async fn set_dedup_outcome(&mut self, key: &str, outcome: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE dedup_keys SET outcome = ?2 WHERE key = ?1")?
            .execute(params![key, outcome])?;
        Ok(())
    }

    async fn insert_outbox(&mut self, new: &NewOutbox) -> Result<i64, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO outbox (instance_id, wait_id, kind, request, state, attempts, \
             next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5) RETURNING id",
        )?;
        let id = stmt.query_row(
            params![
                new.instance_id,
                new.wait_id,
                new.kind.as_str(),
                serde_json::to_string(&new.request)?,
                new.now
            ],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    async fn claim_outbox(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET state = 'running', attempts = attempts + 1, lease_owner = ?3, \
             lease_until = ?2, updated_at = ?1 WHERE id IN (SELECT id FROM outbox \
             WHERE (state = 'pending' AND next_attempt_at <= ?1) \
             OR (state = 'running' AND lease_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?4) \
             RETURNING {OUTBOX_COLUMNS}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now, lease_until, owner, limit], outbox_row)?;
        let mut rows: Vec<OutboxRow> = rows.collect::<Result<_, _>>()?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn get_outbox(&mut self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], outbox_row)
            .optional()?)
    }

    async fn settle_outbox(
        &mut self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = ?2, last_error = COALESCE(?3, last_error), \
                 lease_owner = NULL, lease_until = NULL, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, state.as_str(), error, now])?;
        Ok(())
    }

    async fn reschedule_outbox(
        &mut self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = ?3, \
                 lease_owner = NULL, lease_until = NULL, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, next_attempt_at, error, now])?;
        Ok(())
    }

    async fn cancel_outbox_for_wait(&mut self, wait_id: i64, now: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                 updated_at = ?2 WHERE wait_id = ?1 AND state IN ('pending', 'running')",
            )?
            .execute(params![wait_id, now])?;
        Ok(())
    }

    async fn insert_account(&mut self, account: &AccountRow) -> Result<bool, StoreError> {
        accounts::insert(&self.conn, account)
    }

    async fn get_account(&mut self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        accounts::get(&self.conn, name)
    }

    async fn list_accounts(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        accounts::list(&self.conn)
    }

    async fn delete_account(&mut self, name: &str) -> Result<bool, StoreError> {
        accounts::delete(&self.conn, name)
    }

    async fn set_account_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::set_password(&self.conn, name, password_hash, now)
    }

    async fn insert_inbound(&mut self, new: &NewInbound) -> Result<i64, StoreError> {
        self.signal = true;
        inbound::insert(&self.conn, new)
    }

    async fn claim_inbound(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError> {
        inbound::claim(&self.conn, now, lease_until, owner, limit)
    }

    async fn finish_inbound(
        &mut self,
        id: i64,
        owner: &str,
        instance_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::done(instance_id);
        inbound::settle(&self.conn, id, owner, to, now)
    }

    async fn postpone_inbound(
        &mut self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.signal = true;
        let to = InboundSettlement::postponed(next_attempt_at, error);
        inbound::settle(&self.conn, id, owner, to, now)
    }

    async fn dead_letter_inbound(
        &mut self,
        id: i64,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::dead(error);
        inbound::settle(&self.conn, id, owner, to, now)
    }

    async fn get_inbound(&mut self, id: i64) -> Result<Option<InboundRow>, StoreError> {
        inbound::get(&self.conn, id)
    }

    async fn list_inbound(
        &mut self,
        filter: &InboundFilter,
    ) -> Result<Vec<InboundRow>, StoreError> {
        inbound::list(&self.conn, filter)
    }

    async fn requeue_inbound(
        &mut self,
        id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.signal = true;
        inbound::requeue(&self.conn, id, now, expires_at)
    }

    async fn release_inbound_leases(&mut self, owner: &str, now: i64) -> Result<u64, StoreError> {
        self.signal = true;
        inbound::release_leases(&self.conn, owner, now)
    }

    async fn insert_definition(&mut self, row: &DefinitionRow) -> Result<bool, StoreError> {
        versions::insert(&self.conn, row)
    }

    async fn get_definition(&mut self, hash: &str) -> Result<Option<DefinitionRow>, StoreError> {
        versions::get(&self.conn, hash)
    }

    async fn list_definitions(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<DefinitionRow>, StoreError> {
        versions::list(&self.conn, workflow_id)
    }

    async fn count_live_instances(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<LiveCount>, StoreError> {
        versions::count_live(&self.conn, workflow_id)
    }

    async fn live_instance_ids(
        &mut self,
        workflow_id: &str,
        except_hash: &str,
    ) -> Result<Vec<i64>, StoreError> {
        versions::live_ids(&self.conn, workflow_id, except_hash)
    }

    async fn set_instance_definition(&mut self, id: i64, hash: &str) -> Result<(), StoreError> {
        versions::set_instance_definition(&self.conn, id, hash)
    }

    async fn set_wait_step(&mut self, wait_id: i64, step_id: &str) -> Result<(), StoreError> {
        versions::set_wait_step(&self.conn, wait_id, step_id)
    }

    async fn purge_ended_instances(&mut self, before: i64, limit: i64) -> Result<u64, StoreError> {
        versions::purge_ended(&self.conn, before, limit)
    }

    async fn list_instances(
        &mut self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        overview::list_instances(&self.conn, filter)
    }

    async fn stats(&mut self, now: i64) -> Result<StoreStats, StoreError> {
        overview::stats(&self.conn, now)
    }
}

/// `"a, b"` with prefix `w.` → `"w.a, w.b"`, for joins.
pub(crate) fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(", ")
        .map(|column| format!("{prefix}{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}
