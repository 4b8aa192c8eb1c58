//! Moving the embedded store to PostgreSQL (`holdpoint store copy --to postgres://…`), and
//! comparing the two afterwards.
//!
//! Contract:
//! - **Everything moves, unchanged**: every table in [`tables::TABLES`] (the schema is
//!   checked against that list on both sides first), every row with the same key and id,
//!   the installation settings included, so serials issued before the move still verify
//!   and encrypted queue payloads still open.
//! - **Only into an empty database**: the target is opened like any PostgreSQL store
//!   (migrations run first), its tables are locked against writers, and a table with a
//!   row stops the copy with [`CopyError::NotEmpty`] naming it.
//! - **All or nothing**: the copy is one PostgreSQL transaction. It is verified before
//!   it commits: per table, the row count and a SHA-256 over a canonical rendering of the
//!   rows in key order (see [`rows`]), computed from the rows read out of SQLite and from
//!   the rows read back out of PostgreSQL. Any difference rolls everything back.
//! - **Fresh ids afterwards**: each `BIGSERIAL` sequence is set to the higher of the
//!   largest copied id and SQLite's own high-water mark for the table (`sqlite_sequence`),
//!   so an id SQLite handed out once, even of a row purged since, is never handed out
//!   again: a serial names its instance and wait ids.
//! - **Bounded memory**: rows stream in batches (by count and by bytes), read from one
//!   SQLite read transaction, a consistent snapshot even if a node still wrote meanwhile.
//!   Nodes should be stopped all the same: what they commit after the snapshot is not
//!   copied.

pub mod rows;
mod source;
pub mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use deadpool_postgres::Transaction;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use self::rows::{Cell, Param, Tally};
use self::source::Source;
use self::tables::{TABLES, Table};
use super::postgres::PostgresStore;
use super::{Connections, StoreError};

/// How one table compares on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: &'static str,
    pub source_rows: u64,
    pub source_checksum: String,
    pub target_rows: u64,
    pub target_checksum: String,
}

impl TableCheck {
    pub fn ok(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// Every table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableCheck>,
}

impl CopyReport {
    pub fn ok(&self) -> bool {
        self.tables.iter().all(TableCheck::ok)
    }

    pub fn mismatched(&self) -> Vec<&'static str> {
        let bad = self.tables.iter().filter(|check| !check.ok());
        bad.map(|check| check.table).collect()
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|check| check.source_rows).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no embedded store at {}", .0.display())]
    NoSource(std::path::PathBuf),
    #[error("{0}")]
    Schema(String),
    #[error(
        "the target database is not empty: table `{0}` has rows (copy only into an empty database)"
    )]
    NotEmpty(&'static str),
    #[error("the copy differs from the source in {}; nothing was committed", .0.mismatched().join(", "))]
    Mismatch(CopyReport),
    #[error("table `{table}`: {error}")]
    Table {
        table: &'static str,
        error: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for CopyError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Store(error.into())
    }
}

impl From<rusqlite::Error> for CopyError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Copies the embedded store at `source` into the empty PostgreSQL database at `url`
/// and verifies the copy; see the module documentation.
pub async fn sqlite_to_postgres(source: &Path, url: &str) -> Result<CopyReport, CopyError> {
    let source = Source::open(source).await?;
    let target = PostgresStore::connect(url, Connections::ONE).await?;
    let mut client = target.client().await?;
    let tx = client.transaction().await?;
    // Writers (a node started by mistake) wait for the copy instead of racing it; a node
    // holding locks already makes the copy give up instead of waiting for ever.
    let names: Vec<&str> = TABLES.iter().map(|table| table.name).collect();
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '10s'; LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))
    .await?;
    check_schema(&source, &tx).await?;
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
        if tx
            .query_one(sql.as_str(), &[])
            .await?
            .try_get::<_, bool>(0)?
        {
            return Err(CopyError::NotEmpty(table.name));
        }
    }
    let mut report = CopyReport::default();
    let mut high_water = Vec::new();
    for table in TABLES {
        let pass = source_pass(&source, table, Some(&tx)).await?;
        tracing::info!(table = table.name, rows = pass.rows, "table copied");
        report.tables.push(pass.check(&tx, table).await?);
        if table.serial {
            let stored = source.sequence(table)?;
            high_water.push((table.name, pass.last_id.max(stored)));
        }
    }
    if !report.ok() {
        // Dropping the transaction rolls the copy back.
        return Err(CopyError::Mismatch(report));
    }
    // Not transactional in PostgreSQL, hence last: a copy that fails earlier leaves the
    // sequences alone.
    for (name, high) in high_water.into_iter().filter(|(_, high)| *high > 0) {
        tx.query_one(
            "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)",
            &[&name, &high],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// Compares the embedded store at `source` with the PostgreSQL database at `url` table by
/// table, the way the copy verifies itself; nothing is written. The caller decides what a
/// difference means ([`CopyReport::ok`]).
pub async fn compare(source: &Path, url: &str) -> Result<CopyReport, CopyError> {
    let source = Source::open(source).await?;
    let target = PostgresStore::connect(url, Connections::ONE).await?;
    let mut client = target.client().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    check_schema(&source, &tx).await?;
    let mut report = CopyReport::default();
    for table in TABLES {
        let pass = source_pass(&source, table, None).await?;
        report.tables.push(pass.check(&tx, table).await?);
    }
    Ok(report)
}

struct SourcePass {
    rows: u64,
    checksum: String,
    /// Largest integer key seen (0 for text keys or no rows).
    last_id: i64,
}

impl SourcePass {
    /// This pass against what PostgreSQL holds for the same table.
    async fn check(
        &self,
        tx: &Transaction<'_>,
        table: &'static Table,
    ) -> Result<TableCheck, CopyError> {
        let (target_rows, target_checksum) = target_tally(tx, table).await?;
        Ok(TableCheck {
            table: table.name,
            source_rows: self.rows,
            source_checksum: self.checksum.clone(),
            target_rows,
            target_checksum,
        })
    }
}

/// Reads a table from SQLite in key order, tallying it, and inserts it into `sink`.
async fn source_pass(
    source: &Source,
    table: &'static Table,
    sink: Option<&Transaction<'_>>,
) -> Result<SourcePass, CopyError> {
    let in_table = |error: StoreError| CopyError::Table {
        table: table.name,
        error,
    };
    let mut tally = Tally::default();
    let mut after: Option<Cell> = None;
    loop {
        let batch = source.batch(table, after.as_ref()).map_err(in_table)?;
        let Some(last) = batch.last() else { break };
        after = last.first().cloned();
        for row in &batch {
            tally.add(row);
        }
        if let Some(tx) = sink {
            insert(tx, table, &batch).await.map_err(in_table)?;
        }
    }
    let last_id = match after {
        Some(Cell::Int(id)) => id,
        _ => 0,
    };
    let (rows, checksum) = tally.finish();
    Ok(SourcePass {
        rows,
        checksum,
        last_id,
    })
}

/// One multi-row `INSERT` of a batch.
async fn insert(
    tx: &Transaction<'_>,
    table: &Table,
    batch: &[Vec<Cell>],
) -> Result<(), StoreError> {
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        table.name,
        table.column_list()
    );
    let mut params: Vec<Param> = Vec::with_capacity(batch.len() * table.columns.len());
    for (index, row) in batch.iter().enumerate() {
        sql.push_str(if index == 0 { "(" } else { ", (" });
        for (position, (cell, column)) in row.iter().zip(table.columns).enumerate() {
            params.push(cell.param(column.kind)?);
            let separator = if position == 0 { "" } else { ", " };
            sql.push_str(&format!("{separator}${}", params.len()));
        }
        sql.push(')');
    }
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect();
    tx.execute(sql.as_str(), &refs).await?;
    Ok(())
}

/// Row count and checksum of a PostgreSQL table, read in batches through a portal.
async fn target_tally(
    tx: &Transaction<'_>,
    table: &'static Table,
) -> Result<(u64, String), CopyError> {
    let in_table = |error: StoreError| CopyError::Table {
        table: table.name,
        error,
    };
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        table.column_list(),
        table.name,
        table.pg_order()
    );
    let portal = tx.bind(sql.as_str(), &[]).await?;
    let max_rows = i32::try_from(table.batch).unwrap_or(i32::MAX);
    let mut tally = Tally::default();
    loop {
        let rows = tx.query_portal(&portal, max_rows).await?;
        for row in &rows {
            tally.add(&rows::from_postgres(table, row).map_err(in_table)?);
        }
        if rows.len() < table.batch {
            break;
        }
    }
    Ok(tally.finish())
}

/// Both schemas must hold exactly the tables and columns the copy knows.
async fn check_schema(source: &Source, tx: &Transaction<'_>) -> Result<(), CopyError> {
    check_tables("the embedded store", &source.schema()?)?;
    let rows = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
            &[],
        )
        .await?;
    let mut target: Schema = BTreeMap::new();
    for row in &rows {
        let (table, column): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        target.entry(table).or_default().insert(column);
    }
    check_tables("the PostgreSQL database", &target)
}

/// Column names by table.
pub(super) type Schema = BTreeMap<String, BTreeSet<String>>;

fn check_tables(side: &str, schema: &Schema) -> Result<(), CopyError> {
    let known: Schema = TABLES
        .iter()
        .map(|table| {
            let columns = table.columns.iter().map(|c| c.name.to_string()).collect();
            (table.name.to_string(), columns)
        })
        .collect();
    let found: Schema = schema
        .iter()
        .filter(|(name, _)| !tables::is_bookkeeping(name))
        .map(|(name, columns)| (name.clone(), columns.clone()))
        .collect();
    if found == known {
        return Ok(());
    }
    let names = |schema: &Schema| schema.keys().cloned().collect::<Vec<_>>().join(", ");
    let differing = found
        .iter()
        .filter(|(name, columns)| known.get(*name) != Some(columns))
        .map(|(name, _)| name.as_str())
        .chain(
            known
                .keys()
                .filter(|name| !found.contains_key(*name))
                .map(String::as_str),
        )
        .collect::<Vec<_>>()
        .join(", ");
    Err(CopyError::Schema(format!(
        "{side} does not have the schema this version copies (differs in: {differing}; \
         found tables: {}; expected: {}): use the holdpoint version that wrote it",
        names(&found),
        names(&known)
    )))
}
