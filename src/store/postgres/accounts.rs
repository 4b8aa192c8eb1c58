//! Account rows on PostgreSQL. Rights are a `text[]`; a name collision on insert is
//! reported as `false` (`ON CONFLICT DO NOTHING`), not as an error, so two nodes that
//! create the first admin at once cannot fail each other's start.

use tokio_postgres::Row;

use super::{PgTx, StoreError};
use crate::store::model::AccountRow;

const ACCOUNT_COLUMNS: &str = "name, password_hash, admin, rights, created_at, updated_at";

fn account_row(row: &Row) -> Result<AccountRow, StoreError> {
    Ok(AccountRow {
        name: row.try_get(0)?,
        password_hash: row.try_get(1)?,
        admin: row.try_get(2)?,
        rights: row.try_get(3)?,
        created_at: row.try_get(4)?,
        updated_at: row.try_get(5)?,
    })
}

impl PgTx {
    pub(super) async fn insert_account_row(
        &mut self,
        account: &AccountRow,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                "INSERT INTO accounts (name, password_hash, admin, rights, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                &[
                    &account.name,
                    &account.password_hash,
                    &account.admin,
                    &account.rights,
                    &account.created_at,
                    &account.updated_at,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub(super) async fn get_account_row(
        &mut self,
        name: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
        self.row(&sql, &[&name])
            .await?
            .as_ref()
            .map(account_row)
            .transpose()
    }

    pub(super) async fn list_account_rows(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
        self.rows(&sql, &[])
            .await?
            .iter()
            .map(account_row)
            .collect()
    }

    pub(super) async fn delete_account_row(&mut self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .execute("DELETE FROM accounts WHERE name = $1", &[&name])
            .await?;
        Ok(deleted == 1)
    }

    pub(super) async fn set_account_password_hash(
        &mut self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let updated = self
            .execute(
                "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE name = $1",
                &[&name, &password_hash, &now],
            )
            .await?;
        Ok(updated == 1)
    }
}
