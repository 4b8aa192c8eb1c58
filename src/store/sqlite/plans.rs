//! The statements every command runs, checked against SQLite's own plans on a migrated
//! database: none builds a temporary b-tree (a page allocated and cleared per statement)
//! or is prepared again for new values, and an event's waiters, the runners' claims and
//! the purge of ended instances are read through their indexes.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, StatementStatus};

use super::open_connection;
use crate::store::model::{ListScope, WaitFilter, WaitState};
use crate::store::sql::statements::{self as sql, RETURNING_ID};
use crate::store::sql::{Dialect, filter};

fn migrated() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = open_connection(&dir.path().join("holdpoint.db")).expect("open");
    (dir, conn)
}

/// Column `column` of each row `EXPLAIN {what}` gives, its parameters left unbound.
fn explained(conn: &Connection, what: &str, column: usize) -> Vec<String> {
    let mut explain = conn
        .prepare(&format!("EXPLAIN {what}"))
        .unwrap_or_else(|error| panic!("{error}: {what}"));
    let mut rows = explain.raw_query();
    let mut values = Vec::new();
    while let Some(row) = rows.next().expect("explain") {
        values.push(row.get(column).expect("a text column"));
    }
    values
}

/// Temporary b-trees the statement's program opens: for a result, a list, a sort or an
/// index built on the fly.
fn temporary_btrees(conn: &Connection, statement: &str) -> usize {
    let opcodes = explained(conn, statement, 1);
    let temporary = ["OpenEphemeral", "SorterOpen", "OpenAutoindex"];
    opcodes
        .iter()
        .filter(|op| temporary.contains(&op.as_str()))
        .count()
}

fn without_returning(statement: &'static str) -> &'static str {
    statement
        .strip_suffix(RETURNING_ID)
        .expect("an insert returning its id")
}

#[test]
fn a_command_s_writes_build_no_temporary_btree() {
    let (_dir, conn) = migrated();
    let writes = [
        without_returning(sql::INSERT_INSTANCE),
        sql::UPDATE_INSTANCE,
        sql::SET_INSTANCE_DEFINITION,
        without_returning(sql::INSERT_WAIT),
        sql::CLOSE_WAIT,
        sql::EXTEND_WAIT,
        sql::APPEND_HISTORY,
        without_returning(sql::INSERT_OUTBOX),
        sql::CANCEL_OUTBOX_FOR_WAIT,
        without_returning(sql::BUFFER_EVENT),
        without_returning(sql::INSERT_INBOUND),
        sql::INSERT_KEY,
        sql::DROP_EXPIRED_KEY,
    ];
    for statement in writes {
        assert_eq!(temporary_btrees(&conn, statement), 0, "{statement}");
    }
}

/// The steps of the statement's plan (`EXPLAIN QUERY PLAN`).
fn plan(conn: &Connection, query: &str) -> Vec<String> {
    explained(conn, &format!("QUERY PLAN {query}"), 3)
}

#[test]
fn a_command_s_reads_build_no_temporary_btree() {
    let (_dir, conn) = migrated();
    let open_waits = WaitFilter {
        scope: ListScope::new(None, 100),
        instance_id: Some(1),
        state: Some(WaitState::Open),
        ..WaitFilter::default()
    };
    let (answer, _) = filter::waits(Dialect::Sqlite, &open_waits);
    let reads = [
        answer.as_str(),
        sql::GET_INSTANCE,
        sql::GET_WAIT,
        sql::KEY_OUTCOME,
        &Dialect::Sqlite.statements().lock_instance,
        &Dialect::Sqlite.statements().lock_waiting_instances,
        sql::OPEN_WAITS_FOR_EVENT,
    ];
    for statement in reads {
        assert_eq!(temporary_btrees(&conn, statement), 0, "{statement}");
    }
}

/// An event's waiters are found through the open-wait index by event, not by a scan.
#[test]
fn an_event_s_waiters_are_read_through_the_index_by_event() {
    let (_dir, conn) = migrated();
    assert_eq!(
        plan(&conn, &Dialect::Sqlite.statements().lock_waiting_instances),
        [
            "SEARCH w USING COVERING INDEX waits_event (event_name=? AND scope=?)",
            "SEARCH i USING INTEGER PRIMARY KEY (rowid=?)"
        ]
    );
    assert_eq!(
        plan(&conn, sql::OPEN_WAITS_FOR_EVENT),
        ["SEARCH waits USING INDEX waits_event (event_name=? AND scope=?)"]
    );
}

/// The runners' claims read only the rows they can claim, through an index per state,
/// whatever the tables hold besides (delivered rows stay until retention purges them).
#[test]
fn the_runners_claims_read_only_claimable_rows() {
    let (_dir, conn) = migrated();
    let statements = Dialect::Sqlite.statements();
    for (claim, ready, running) in [
        (&statements.claim_outbox, "outbox_pending", "outbox_running"),
        (
            &statements.claim_inbound,
            "inbound_events_queued",
            "inbound_events_running",
        ),
    ] {
        let steps = plan(&conn, claim);
        assert!(
            !steps.iter().any(|step| step.starts_with("SCAN")),
            "{steps:?}"
        );
        for index in [ready, running] {
            assert!(
                steps.iter().any(|step| step.contains(index)),
                "{index}: {steps:?}"
            );
        }
    }
}

/// What the changes of 2026-12-06 removed, so that the tests of temporary b-trees can fail: a
/// `RETURNING` clause, and an `IN` list of three values in a partial index's condition.
#[test]
fn returning_and_an_in_list_of_three_do_build_one() {
    let (_dir, conn) = migrated();
    assert_eq!(temporary_btrees(&conn, sql::INSERT_WAIT), 1);
    conn.execute_batch("CREATE INDEX probe ON waits (deadline) WHERE state IN ('a', 'b', 'c')")
        .expect("index");
    assert_eq!(temporary_btrees(&conn, sql::CLOSE_WAIT), 2);
}

#[test]
fn the_purge_of_ended_instances_uses_their_index() {
    let (_dir, conn) = migrated();
    let query = &Dialect::Sqlite.statements().ended_instances;
    let steps = plan(&conn, query);
    assert_eq!(
        steps,
        ["SEARCH instances USING INDEX instances_ended (updated_at<?)"]
    );
}

/// A statement prepared once is never prepared again for the values bound to it: with a
/// bound `LIMIT`, SQLite 3.54 would re-plan it on every run unless the planner's
/// stability guarantee is on (`open_connection`).
#[test]
fn a_statement_is_not_prepared_again_for_new_values() {
    let (_dir, conn) = migrated();
    let listing = "SELECT id FROM waits WHERE state = 'open' AND instance_id = $1 \
                   ORDER BY id LIMIT $2";
    let prepared_again = |conn: &Connection| {
        let mut statement = conn.prepare(listing).expect("prepare");
        for run in 0..3_i64 {
            statement.raw_bind_parameter(1, run).expect("bind");
            statement.raw_bind_parameter(2, 100 + run).expect("bind");
            let mut rows = statement.raw_query();
            while rows.next().expect("step").is_some() {}
        }
        statement.get_status(StatementStatus::RePrepare)
    };
    assert_eq!(prepared_again(&conn), 0);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, false)
        .expect("config");
    assert!(prepared_again(&conn) > 0, "what the guarantee prevents");
}
