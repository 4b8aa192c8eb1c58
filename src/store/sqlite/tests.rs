//! The commit on the writer thread, seen from a caller that stops waiting for it: an HTTP
//! client that disconnects, or the SharePoint receiver's `sync_timeout`.

use std::time::Duration;

use crate::store::sqlite::SqliteStore;
use crate::store::{NewInbound, Store};

/// Long enough never to fire on a working store; it only keeps a broken one from hanging
/// the test run.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_commit_given_up_by_its_caller_still_commits_wakes_the_runners_and_frees_the_turn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("holdpoint.db"))
        .await
        .expect("open");
    let work = store.work_signal();
    let woken = work.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();

    let mut tx = store.begin().await.expect("begin");
    let event = NewInbound {
        workflow_id: "w".into(),
        kind: "custom_data".into(),
        payload: b"{}".to_vec(),
        encrypted: false,
        now: 1,
        expires_at: 120_001,
    };
    let id = tx.insert_inbound(&event).await.expect("insert");
    // Polled once, so the COMMIT is on its way to the thread, then dropped.
    let _ = tokio::time::timeout(Duration::ZERO, tx.commit()).await;

    tokio::time::timeout(PATIENCE, woken)
        .await
        .expect("the runners are woken although nobody waited for the commit");
    let mut tx = tokio::time::timeout(PATIENCE, store.begin())
        .await
        .expect("the turn is released")
        .expect("begin");
    let row = tx.get_inbound(id).await.expect("read");
    assert!(row.is_some(), "the abandoned commit went through");
}

#[tokio::test]
async fn a_transaction_dropped_uncommitted_leaves_nothing_and_frees_the_turn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("holdpoint.db"))
        .await
        .expect("open");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_setting_if_absent("k", b"v")
        .await
        .expect("insert");
    drop(tx);

    let mut tx = tokio::time::timeout(PATIENCE, store.begin())
        .await
        .expect("the turn is released")
        .expect("begin");
    assert_eq!(tx.setting("k").await.expect("read"), None);
}
