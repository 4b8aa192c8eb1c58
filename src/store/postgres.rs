//! Production store on PostgreSQL (tokio-postgres + deadpool-postgres).
//!
//! Several nodes may share one database. Instances are locked with `FOR UPDATE`; due waits
//! and outbox rows are claimed with `FOR UPDATE SKIP LOCKED`, so runners on different nodes
//! never block each other or take the same row. A transaction that produced runner work
//! issues `NOTIFY holdpoint_work`, delivered at commit to every node's listener connection;
//! runners poll as well, so a lost notification only costs latency.
//!
//! Migrations run at start under a session advisory lock, so nodes may start together.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::model::*;
use super::sqlite::prefixed;
use super::{Backend, Store, StoreError, Tx};

mod accounts;
mod inbound;
mod overview;
mod pipeline;
mod versions;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Key of the advisory lock held while migrating ("holdpoint" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x686f_6c64_706f_696e;
const WORK_CHANNEL: &str = "holdpoint_work";
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
    work: Arc<Notify>,
    listener: AbortHandle,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects, migrates under the advisory lock, and starts the LISTEN connection.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|error| StoreError::Other(format!("invalid database url: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("holdpoint");
        }
        migrate(&config).await?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|error| StoreError::Other(format!("cannot build pool: {error}")))?;
        let work = Arc::new(Notify::new());
        let listener = tokio::spawn(listen_forever(config, work.clone())).abort_handle();
        Ok(Self {
            pool,
            work,
            listener,
        })
    }

    /// A connection of the pool, for work outside the [`Tx`] methods (the store copy).
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

async fn migrate(config: &tokio_postgres::Config) -> Result<(), StoreError> {
    let (mut client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = embedded::migrations::runner().run_async(&mut client).await;
    // Closing the session releases the lock too; unlock explicitly for clarity.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = driver.await;
    outcome?;
    Ok(())
}

/// Keeps one connection LISTENing and turns notifications into wake-ups; reconnects with
/// a pause when the database goes away.
async fn listen_forever(config: tokio_postgres::Config, work: Arc<Notify>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The connection future delivers notifications; drive it in its own task
                // and keep the client alive until the connection ends.
                let signal = work.clone();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => signal.notify_waiters(),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "listen connection lost");
                                break;
                            }
                        }
                    }
                });
                let listen = format!("LISTEN {WORK_CHANNEL}");
                match client.batch_execute(&listen).await {
                    Ok(()) => {
                        let _ = driver.await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listen failed");
                        driver.abort();
                    }
                }
                drop(client);
            }
            Err(error) => tracing::debug!(%error, "listen connection failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let client = self.pool.get().await?;
        client.batch_execute("BEGIN").await?;
        Ok(Box::new(PgTx {
            client: Some(client),
            signal: false,
            work: self.work.clone(),
            pending: Vec::new(),
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .query_one("SELECT count(*) FROM settings", &[])
            .await?;
        Ok(())
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

struct PgTx {
    client: Option<Object>,
    signal: bool,
    work: Arc<Notify>,
    /// Writes waiting to go out with the next statement (see `pipeline`).
    pending: Vec<pipeline::Deferred>,
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // Not committed: roll back before the connection goes back to the pool. Without a
        // runtime, detach the connection so that it closes (which also rolls back).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgTx {
    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    async fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await?;
        let next = client.query(&statement, params);
        Ok(pipeline::with_pending(client, pending, next).await?)
    }

    async fn row(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await?;
        let next = client.query_opt(&statement, params);
        Ok(pipeline::with_pending(client, pending, next).await?)
    }

    async fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let client = self.client()?;
        let statement = client.prepare_cached(sql).await?;
        let next = client.execute(&statement, params);
        Ok(pipeline::with_pending(client, pending, next).await?)
    }

    /// A write whose row count nobody reads: sent with the next statement or `COMMIT`.
    fn defer(&mut self, sql: &'static str, params: Vec<pipeline::OwnedParam>) {
        self.pending.push(pipeline::Deferred { sql, params });
    }
}

fn parsed<T>(text: String, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown value {text}")))
}

const INSTANCE_COLUMNS: &str = "id, workflow_id, definition_hash, folio, status, current_step, \
     fields, trigger_event, reply, error, created_at, updated_at";

fn instance_row(row: &Row) -> Result<InstanceRow, StoreError> {
    let Json(fields): Json<Map<String, Value>> = row.try_get(6)?;
    Ok(InstanceRow {
        id: row.try_get(0)?,
        workflow_id: row.try_get(1)?,
        definition_hash: row.try_get(2)?,
        folio: row.try_get(3)?,
        status: parsed(row.try_get(4)?, InstanceStatus::parse)?,
        current_step: row.try_get(5)?,
        fields,
        trigger_event: row.try_get::<_, Json<Value>>(7)?.0,
        reply: row.try_get::<_, Option<Json<Value>>>(8)?.map(|json| json.0),
        error: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

const WAIT_COLUMNS: &str =
    "id, instance_id, step_id, kind, event_name, scope, state, deadline, created_at, closed_at";

fn wait_row(row: &Row) -> Result<WaitRow, StoreError> {
    let scope: Option<String> = row.try_get(5)?;
    Ok(WaitRow {
        id: row.try_get(0)?,
        instance_id: row.try_get(1)?,
        step_id: row.try_get(2)?,
        kind: parsed(row.try_get(3)?, WaitKind::parse)?,
        event_name: row.try_get(4)?,
        scope: scope.as_deref().and_then(EventScope::parse),
        state: parsed(row.try_get(6)?, WaitState::parse)?,
        deadline: row.try_get(7)?,
        created_at: row.try_get(8)?,
        closed_at: row.try_get(9)?,
    })
}

fn wait_rows(rows: Vec<Row>) -> Result<Vec<WaitRow>, StoreError> {
    rows.iter().map(wait_row).collect()
}

const OUTBOX_COLUMNS: &str = "id, instance_id, wait_id, kind, request, state, attempts, \
     next_attempt_at, lease_owner, lease_until, last_error";

fn outbox_row(row: &Row) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: row.try_get(0)?,
        instance_id: row.try_get(1)?,
        wait_id: row.try_get(2)?,
        kind: parsed(row.try_get(3)?, OutboxKind::parse)?,
        request: row.try_get::<_, Json<Value>>(4)?.0,
        state: parsed(row.try_get(5)?, OutboxState::parse)?,
        attempts: row.try_get(6)?,
        next_attempt_at: row.try_get(7)?,
        lease_owner: row.try_get(8)?,
        lease_until: row.try_get(9)?,
        last_error: row.try_get(10)?,
    })
}

fn id_of(row: Option<Row>) -> Result<i64, StoreError> {
    let row = row.ok_or_else(|| StoreError::Other("insert returned no row".into()))?;
    Ok(row.try_get(0)?)
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let client = self
            .client
            .take()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))?;
        let sql = if self.signal {
            format!("NOTIFY {WORK_CHANNEL}; COMMIT")
        } else {
            "COMMIT".to_string()
        };
        let pending = std::mem::take(&mut self.pending);
        if let Err(error) =
            pipeline::with_pending(&client, pending, client.batch_execute(&sql)).await
        {
            // The outcome of a failed COMMIT is unknown to us; never reuse the connection.
            drop(Object::take(client));
            return Err(error.into());
        }
        if self.signal {
            self.work.notify_waiters();
        }
        Ok(())
    }

    fn signal_work_on_commit(&mut self) {
        self.signal = true;
    }

    async fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .row("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    async fn insert_setting_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }

    async fn replace_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }

    async fn insert_instance(&mut self, new: &NewInstance) -> Result<i64, StoreError> {
        let row = self
            .row(
                "INSERT INTO instances (workflow_id, definition_hash, folio, status, fields, \
                 trigger_event, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 RETURNING id",
                &[
                    &new.workflow_id,
                    &new.definition_hash,
                    &new.folio,
                    &new.status.as_str(),
                    &Json(&new.fields),
                    &Json(&new.trigger_event),
                    &new.now,
                ],
            )
            .await?;
        id_of(row)
    }

    async fn lock_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1 FOR UPDATE");
        self.row(&sql, &[&id])
            .await?
            .as_ref()
            .map(instance_row)
            .transpose()
    }

    async fn get_instances(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>, StoreError> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ANY($1)");
        let rows = self.rows(&sql, &[&ids]).await?;
        rows.iter().map(instance_row).collect()
    }

    async fn get_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1");
        self.row(&sql, &[&id])
            .await?
            .as_ref()
            .map(instance_row)
            .transpose()
    }

    async fn update_instance(&mut self, row: &InstanceRow) -> Result<(), StoreError> {
        self.defer(
            "UPDATE instances SET status = $2, current_step = $3, fields = $4, reply = $5, \
             error = $6, updated_at = $7 WHERE id = $1",
            vec![
                Box::new(row.id),
                Box::new(row.status.as_str()),
                Box::new(row.current_step.clone()),
                Box::new(Json(row.fields.clone())),
                Box::new(row.reply.clone().map(Json)),
                Box::new(row.error.clone()),
                Box::new(row.updated_at),
            ],
        );
        Ok(())
    }

    async fn insert_wait(&mut self, new: &NewWait) -> Result<i64, StoreError> {
        let row = self
            .row(
                "INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, \
                 deadline, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7) RETURNING id",
                &[
                    &new.instance_id,
                    &new.step_id,
                    &new.kind.as_str(),
                    &new.event_name,
                    &new.scope.map(EventScope::as_str),
                    &new.deadline,
                    &new.now,
                ],
            )
            .await?;
        id_of(row)
    }

    async fn get_wait(&mut self, id: i64) -> Result<Option<WaitRow>, StoreError> {
        let sql = format!("SELECT {WAIT_COLUMNS} FROM waits WHERE id = $1");
        self.row(&sql, &[&id])
            .await?
            .as_ref()
            .map(wait_row)
            .transpose()
    }

    async fn close_wait(&mut self, id: i64, to: WaitState, now: i64) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE waits SET state = $2, closed_at = $3 WHERE id = $1 AND state = 'open'",
                &[&id, &to.as_str(), &now],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn close_waits(
        &mut self,
        ids: &[i64],
        to: WaitState,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .rows(
                "UPDATE waits SET state = $2, closed_at = $3 \
                 WHERE id = ANY($1) AND state = 'open' RETURNING id",
                &[&ids, &to.as_str(), &now],
            )
            .await?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .collect()
    }

    async fn extend_wait(&mut self, id: i64, deadline: i64) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE waits SET deadline = $2 WHERE id = $1 AND state = 'open'",
                &[&id, &deadline],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn open_waits_for_event(
        &mut self,
        name: &str,
        scope: EventScope,
    ) -> Result<Vec<WaitRow>, StoreError> {
        let sql = format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE state = 'open' AND event_name = $1 \
             AND scope = $2 ORDER BY id"
        );
        wait_rows(self.rows(&sql, &[&name, &scope.as_str()]).await?)
    }

    async fn lock_due_waits(&mut self, now: i64, limit: i64) -> Result<Vec<WaitRow>, StoreError> {
        // Lock the instances (not the waits): commands lock instance before wait, and the
        // timer must take its locks in the same order. Busy instances are skipped and
        // picked up by the next tick.
        let sql = format!(
            "SELECT {} FROM waits w JOIN instances i ON i.id = w.instance_id \
             WHERE w.state = 'open' AND w.deadline <= $1 ORDER BY w.deadline, w.id LIMIT $2 \
             FOR UPDATE OF i SKIP LOCKED",
            prefixed(WAIT_COLUMNS, "w.")
        );
        wait_rows(self.rows(&sql, &[&now, &limit]).await?)
    }

    async fn list_waits(&mut self, filter: &WaitFilter) -> Result<Vec<WaitRow>, StoreError> {
        // Only the filters given become conditions, so that each query shape gets a plan
        // that uses its index (a generic plan for `$1 IS NULL OR …` may not).
        let kind = filter.kind.map(WaitKind::as_str);
        let state = filter.state.map(WaitState::as_str);
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<&(dyn ToSql + Sync)> = Vec::new();
        fn add<'a>(
            conditions: &mut Vec<String>,
            values: &mut Vec<&'a (dyn ToSql + Sync)>,
            sql: &str,
            value: &'a (dyn ToSql + Sync),
        ) {
            values.push(value);
            conditions.push(sql.replace('$', &format!("${}", values.len())));
        }
        // The state is written into the SQL (a fixed word, never input text): the partial
        // indexes on open waits only serve a query whose plan knows `state = 'open'`, and a
        // generic plan for `state = $n` does not.
        if let Some(state) = state {
            conditions.push(format!("w.state = '{state}'"));
        }
        let mut condition = |sql: &str, value| add(&mut conditions, &mut values, sql, value);
        if let Some(workflow) = &filter.workflow_id {
            condition("i.workflow_id = $", workflow);
        }
        if let Some(kind) = &kind {
            condition("w.kind = $", kind);
        }
        if let Some(event) = &filter.event_name {
            condition("w.event_name = $", event);
        }
        if let Some(instance) = &filter.instance_id {
            condition("w.instance_id = $", instance);
        }
        if let Some(ids) = &filter.workflow_ids {
            condition("i.workflow_id = ANY($)", ids);
        }
        values.push(&filter.limit);
        let sql = format!(
            "SELECT {} FROM waits w JOIN instances i ON i.id = w.instance_id {}{} \
             ORDER BY w.id LIMIT ${}",
            prefixed(WAIT_COLUMNS, "w."),
            if conditions.is_empty() { "" } else { "WHERE " },
            conditions.join(" AND "),
            values.len()
        );
        let rows = self.rows(&sql, &values).await?;
        wait_rows(rows)
    }

    async fn append_history(&mut self, entry: &NewHistory) -> Result<(), StoreError> {
        self.defer(
            "INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, \
             source, message_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            vec![
                Box::new(entry.instance_id),
                Box::new(entry.at),
                Box::new(entry.kind.clone()),
                Box::new(entry.step_id.clone()),
                Box::new(entry.wait_id),
                Box::new(entry.actor.clone()),
                Box::new(entry.dialect.clone()),
                Box::new(entry.source.clone()),
                Box::new(entry.message_id.clone()),
                Box::new(Json(entry.detail.clone())),
            ],
        );
        Ok(())
    }

    async fn history(&mut self, instance_id: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, instance_id, at, kind, step_id, wait_id, actor, dialect, source, \
                 message_id, detail FROM history WHERE instance_id = $1 ORDER BY id",
                &[&instance_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryRow {
                    id: row.try_get(0)?,
                    instance_id: row.try_get(1)?,
                    at: row.try_get(2)?,
                    kind: row.try_get(3)?,
                    step_id: row.try_get(4)?,
                    wait_id: row.try_get(5)?,
                    actor: row.try_get(6)?,
                    dialect: row.try_get(7)?,
                    source: row.try_get(8)?,
                    message_id: row.try_get(9)?,
                    detail: row.try_get::<_, Json<Value>>(10)?.0,
                })
            })
            .collect()
    }

    async fn buffer_event(&mut self, event: &NewBufferedEvent) -> Result<i64, StoreError> {
        let row = self
            .row(
                "INSERT INTO buffered_events (name, scope, properties, actor, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &event.name,
                    &event.scope.as_str(),
                    &Json(&event.properties),
                    &event.actor,
                    &event.now,
                    &event.expires_at,
                ],
            )
            .await?;
        id_of(row)
    }

    async fn take_buffered_event(
        &mut self,
        name: &str,
        scope: EventScope,
        now: i64,
    ) -> Result<Option<BufferedEventRow>, StoreError> {
        let row = self
            .row(
                "DELETE FROM buffered_events WHERE id = (SELECT id FROM buffered_events \
                 WHERE name = $1 AND scope = $2 AND expires_at > $3 ORDER BY id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, name, scope, properties, actor, created_at, expires_at",
                &[&name, &scope.as_str(), &now],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(BufferedEventRow {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            scope: parsed(row.try_get(2)?, EventScope::parse)?,
            properties: row.try_get::<_, Json<Map<String, Value>>>(3)?.0,
            actor: row.try_get(4)?,
            created_at: row.try_get(5)?,
            expires_at: row.try_get(6)?,
        }))
    }

    async fn purge_expired(&mut self, now: i64) -> Result<u64, StoreError> {
        let events = self
            .execute(
                "DELETE FROM buffered_events WHERE expires_at <= $1",
                &[&now],
            )
            .await?;
        let keys = self
            .execute("DELETE FROM dedup_keys WHERE expires_at <= $1", &[&now])
            .await?;
        Ok(events + keys)
    }

    async fn claim_dedup_key(
        &mut self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<DedupClaim, StoreError> {
        self.execute(
            "DELETE FROM dedup_keys WHERE key = $1 AND expires_at <= $2",
            &[&key, &now],
        )
        .await?;
        // A concurrent uncommitted insert of the same key makes this wait; then it either
        // inserts (the other rolled back) or does nothing (the other committed).
        let inserted = self
            .execute(
                "INSERT INTO dedup_keys (key, outcome, created_at, expires_at) \
                 VALUES ($1, NULL, $2, $3) ON CONFLICT (key) DO NOTHING",
                &[&key, &now, &expires_at],
            )
            .await?;
        if inserted == 1 {
            return Ok(DedupClaim::Claimed);
        }
        let row = self
            .row("SELECT outcome FROM dedup_keys WHERE key = $1", &[&key])
            .await?;
        Ok(DedupClaim::Existing(
            row.map(|row| row.try_get(0)).transpose()?.flatten(),
        ))
    }

    async fn set_dedup_outcome(&mut self, key: &str, outcome: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE dedup_keys SET outcome = $2 WHERE key = $1",
            &[&key, &outcome],
        )
        .await?;
        Ok(())
    }

    async fn insert_outbox(&mut self, new: &NewOutbox) -> Result<i64, StoreError> {
        let row = self
            .row(
                "INSERT INTO outbox (instance_id, wait_id, kind, request, state, attempts, \
                 next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5) RETURNING id",
                &[
                    &new.instance_id,
                    &new.wait_id,
                    &new.kind.as_str(),
                    &Json(&new.request),
                    &new.now,
                ],
            )
            .await?;
        id_of(row)
    }

    async fn claim_outbox(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET state = 'running', attempts = attempts + 1, lease_owner = $3, \
             lease_until = $2, updated_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE (state = 'pending' AND next_attempt_at <= $1) \
             OR (state = 'running' AND lease_until <= $1) ORDER BY next_attempt_at, id LIMIT $4 \
             FOR UPDATE SKIP LOCKED) RETURNING {OUTBOX_COLUMNS}"
        );
        let rows = self
            .rows(&sql, &[&now, &lease_until, &owner, &limit])
            .await?;
        let mut rows: Vec<OutboxRow> = rows.iter().map(outbox_row).collect::<Result<_, _>>()?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn get_outbox(&mut self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        self.row(&sql, &[&id])
            .await?
            .as_ref()
            .map(outbox_row)
            .transpose()
    }

    async fn settle_outbox(
        &mut self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET state = $2, last_error = COALESCE($3, last_error), \
             lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE id = $1",
            &[&id, &state.as_str(), &error, &now],
        )
        .await?;
        Ok(())
    }

    async fn reschedule_outbox(
        &mut self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, last_error = $3, \
             lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE id = $1",
            &[&id, &next_attempt_at, &error, &now],
        )
        .await?;
        Ok(())
    }

    async fn cancel_outbox_for_wait(&mut self, wait_id: i64, now: i64) -> Result<(), StoreError> {
        self.defer(
            "UPDATE outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
             updated_at = $2 WHERE wait_id = $1 AND state IN ('pending', 'running')",
            vec![Box::new(wait_id), Box::new(now)],
        );
        Ok(())
    }

    async fn insert_account(&mut self, account: &AccountRow) -> Result<bool, StoreError> {
        self.insert_account_row(account).await
    }

    async fn get_account(&mut self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        self.get_account_row(name).await
    }

    async fn list_accounts(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        self.list_account_rows().await
    }

    async fn delete_account(&mut self, name: &str) -> Result<bool, StoreError> {
        self.delete_account_row(name).await
    }

    async fn set_account_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.set_account_password_hash(name, password_hash, now)
            .await
    }

    async fn insert_inbound(&mut self, new: &NewInbound) -> Result<i64, StoreError> {
        self.insert_inbound_row(new).await
    }

    async fn claim_inbound(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError> {
        self.claim_inbound_rows(now, lease_until, owner, limit)
            .await
    }

    async fn finish_inbound(
        &mut self,
        id: i64,
        owner: &str,
        instance_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::done(instance_id);
        self.settle_inbound_row(id, owner, to, now).await
    }

    async fn postpone_inbound(
        &mut self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::postponed(next_attempt_at, error);
        self.settle_inbound_row(id, owner, to, now).await
    }

    async fn dead_letter_inbound(
        &mut self,
        id: i64,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::dead(error);
        self.settle_inbound_row(id, owner, to, now).await
    }

    async fn get_inbound(&mut self, id: i64) -> Result<Option<InboundRow>, StoreError> {
        self.get_inbound_row(id).await
    }

    async fn list_inbound(
        &mut self,
        filter: &InboundFilter,
    ) -> Result<Vec<InboundRow>, StoreError> {
        self.list_inbound_rows(filter).await
    }

    async fn requeue_inbound(
        &mut self,
        id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.requeue_inbound_row(id, now, expires_at).await
    }

    async fn release_inbound_leases(&mut self, owner: &str, now: i64) -> Result<u64, StoreError> {
        self.release_inbound_row_leases(owner, now).await
    }

    async fn insert_definition(&mut self, row: &DefinitionRow) -> Result<bool, StoreError> {
        self.insert_definition_row(row).await
    }

    async fn get_definition(&mut self, hash: &str) -> Result<Option<DefinitionRow>, StoreError> {
        self.definition_row(hash).await
    }

    async fn list_definitions(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<DefinitionRow>, StoreError> {
        self.definition_rows(workflow_id).await
    }

    async fn count_live_instances(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<LiveCount>, StoreError> {
        self.live_counts(workflow_id).await
    }

    async fn live_instance_ids(
        &mut self,
        workflow_id: &str,
        except_hash: &str,
    ) -> Result<Vec<i64>, StoreError> {
        self.live_ids(workflow_id, except_hash).await
    }

    async fn set_instance_definition(&mut self, id: i64, hash: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE instances SET definition_hash = $2 WHERE id = $1",
            &[&id, &hash],
        )
        .await?;
        Ok(())
    }

    async fn set_wait_step(&mut self, wait_id: i64, step_id: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE waits SET step_id = $2 WHERE id = $1",
            &[&wait_id, &step_id],
        )
        .await?;
        Ok(())
    }

    async fn purge_ended_instances(&mut self, before: i64, limit: i64) -> Result<u64, StoreError> {
        self.purge_ended(before, limit).await
    }

    async fn list_instances(
        &mut self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        self.list_instance_rows(filter).await
    }

    async fn stats(&mut self, now: i64) -> Result<StoreStats, StoreError> {
        self.store_stats(now).await
    }
}
