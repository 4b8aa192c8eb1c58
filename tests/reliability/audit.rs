//! The database's side of the scenarios, read with plain SQL (the same text on both
//! stores) rather than through Holdpoint, so that the store cannot vouch for itself.
//!
//! Each waiting instance is in one of two consistent states: *pending* (its wait open, no
//! closing history row, not completed) or *applied* (wait closed, exactly one closing
//! history row, completed once). Anything else is half-applied or applied twice.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the audit reads.
pub enum Db {
    Postgres(tokio_postgres::Client),
    Sqlite(PathBuf),
}

/// History kinds that close a wait.
const CLOSING: &str =
    "'server_item_finished', 'event_received', 'event_taken_from_buffer', 'wait_expired'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Applied,
    /// Neither: half-applied, or applied more than once.
    Broken,
}

impl Db {
    /// Every row of `sql` as text (NULL as "").
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Db::Postgres(client) => client
                .simple_query(sql)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"))
                .into_iter()
                .filter_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).unwrap_or_default().to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
            Db::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).expect("open the SQLite store");
                let mut statement = connection
                    .prepare(sql)
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => String::new(),
                                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Text(v)
                                    | rusqlite::types::ValueRef::Blob(v) => {
                                        String::from_utf8_lossy(v).into_owned()
                                    }
                                })
                            })
                            .collect::<rusqlite::Result<Vec<String>>>()
                    })
                    .expect("query")
                    .collect::<rusqlite::Result<_>>()
                    .expect("rows")
            }
        }
    }

    pub async fn count(&self, sql: &str) -> usize {
        let rows = self.rows(sql).await;
        rows.first()
            .and_then(|row| row.first())
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: no count in {rows:?}"))
    }

    /// The state of each instance of a waiting workflow, by its field `n`.
    pub async fn waiting_states(&self, workflow_id: &str) -> BTreeMap<usize, State> {
        let sql = format!(
            "SELECT CAST(i.fields->>'n' AS TEXT), \
               (SELECT count(*) FROM history h WHERE h.instance_id = i.id AND h.kind IN ({CLOSING})), \
               (SELECT count(*) FROM waits w WHERE w.instance_id = i.id AND w.state = 'open'), \
               (SELECT count(*) FROM history h WHERE h.instance_id = i.id AND h.kind = 'completed') \
             FROM instances i WHERE i.workflow_id = '{workflow_id}'"
        );
        let mut states = BTreeMap::new();
        for row in self.rows(&sql).await {
            let n = number(&row[0]);
            let counts: Vec<usize> = row[1..].iter().map(|c| c.parse().unwrap_or(99)).collect();
            let state = match counts[..] {
                [0, 1, 0] => State::Pending,
                [1, 0, 1] => State::Applied,
                _ => State::Broken,
            };
            let previous = states.insert(n, state);
            assert!(
                previous.is_none(),
                "two instances of {workflow_id} with n = {n}"
            );
        }
        states
    }

    /// How many instances of a started-by-queue workflow exist for each field `n`.
    pub async fn started_per_n(&self, workflow_id: &str) -> BTreeMap<usize, usize> {
        let sql = format!(
            "SELECT CAST(fields->>'n' AS TEXT), count(*) FROM instances \
             WHERE workflow_id = '{workflow_id}' GROUP BY 1"
        );
        self.rows(&sql)
            .await
            .into_iter()
            .map(|row| (number(&row[0]), row[1].parse().unwrap_or(0)))
            .collect()
    }

    /// Inbound queue rows by state.
    pub async fn queue_states(&self) -> BTreeMap<String, usize> {
        self.rows("SELECT state, count(*) FROM inbound_events GROUP BY state")
            .await
            .into_iter()
            .map(|row| (row[0].clone(), row[1].parse().unwrap_or(0)))
            .collect()
    }

    /// History rows that appear twice: the same instance, kind and wait.
    pub async fn duplicate_history(&self) -> usize {
        self.count(
            "SELECT count(*) FROM (SELECT instance_id, kind, wait_id FROM history \
             WHERE wait_id IS NOT NULL GROUP BY instance_id, kind, wait_id HAVING count(*) > 1) d",
        )
        .await
    }
}

/// `5`, `"5"` or `5.0` → 5.
fn number(text: &str) -> usize {
    text.trim_matches('"')
        .parse::<f64>()
        .map(|n| n as usize)
        .unwrap_or_else(|_| panic!("field n is not a number: {text}"))
}
