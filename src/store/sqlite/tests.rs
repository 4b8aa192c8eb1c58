//! Group commit seen from callers that stop waiting (an HTTP client that disconnects, the
//! SharePoint receiver's `sync_timeout`): for their commit, or for the turn a batch was
//! left to.

use std::task::{Context, Waker};
use std::time::Duration;

use crate::store::sqlite::SqliteStore;
use crate::store::{NewInbound, Store};

/// Long enough never to fire on a working store; it only keeps a broken one from hanging
/// the test run.
const PATIENCE: Duration = Duration::from_secs(10);

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("holdpoint.db"))
        .await
        .expect("open");
    (dir, store)
}

#[tokio::test]
async fn a_commit_given_up_by_its_caller_still_commits_wakes_the_runners_and_frees_the_turn() {
    let (_dir, store) = open().await;
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
    let (_dir, store) = open().await;
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

/// The first command lets go of the turn while another task waits for it, so it leaves
/// its batch to that task, which is then cancelled before it takes the turn. The futures
/// are polled by hand, so the order is fixed.
#[tokio::test]
async fn a_batch_left_to_a_waiter_that_is_cancelled_is_still_committed() {
    let (_dir, store) = open().await;
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = store.begin().await.expect("begin");
    first
        .insert_setting_if_absent("k", b"v")
        .await
        .expect("insert");
    let mut waiter = Box::pin(store.begin());
    assert!(
        waiter.as_mut().poll(&mut cx).is_pending(),
        "waits for the turn"
    );
    let mut commit = first.commit();
    assert!(
        commit.as_mut().poll(&mut cx).is_pending(),
        "the batch is left to the waiter"
    );
    drop(waiter);
    tokio::time::timeout(PATIENCE, commit)
        .await
        .expect("the batch is committed although its waiter is gone")
        .expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.setting("k").await.expect("read"), Some(b"v".to_vec()));
}
