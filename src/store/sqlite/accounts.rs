//! Account rows on SQLite. Rights are a JSON array in a text column; a name collision on
//! insert is reported as `false` (`ON CONFLICT DO NOTHING`), not as an error.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::StoreError;
use crate::store::model::AccountRow;

const ACCOUNT_COLUMNS: &str = "name, password_hash, admin, rights, created_at, updated_at";

fn account_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let rights: String = row.get(3)?;
    let rights = serde_json::from_str(&rights)
        .map_err(|error| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, error.into()))?;
    Ok(AccountRow {
        name: row.get(0)?,
        password_hash: row.get(1)?,
        admin: row.get(2)?,
        rights,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

pub(super) fn insert(conn: &Connection, account: &AccountRow) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts (name, password_hash, admin, rights, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![
            account.name,
            account.password_hash,
            account.admin,
            serde_json::to_string(&account.rights)?,
            account.created_at,
            account.updated_at
        ])?;
    Ok(inserted == 1)
}

pub(super) fn get(conn: &Connection, name: &str) -> Result<Option<AccountRow>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], account_row)
        .optional()?)
}

pub(super) fn list(conn: &Connection) -> Result<Vec<AccountRow>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], account_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn delete(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM accounts WHERE name = ?1")?
        .execute([name])?;
    Ok(deleted == 1)
}

pub(super) fn set_password(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = conn
        .prepare_cached("UPDATE accounts SET password_hash = ?2, updated_at = ?3 WHERE name = ?1")?
        .execute(params![name, password_hash, now])?;
    Ok(updated == 1)
}
