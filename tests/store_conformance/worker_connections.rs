//! PostgreSQL only: a thread that serves requests (an HTTP worker) keeps connections of its
//! own, and takes one of the node's pool when they are all busy instead of waiting.

use std::time::Duration;

use crate::cases::instance_with_an_item;
use crate::support::postgres_store_on_this_thread;

#[tokio::test(flavor = "current_thread")]
async fn a_worker_whose_own_connections_are_busy_borrows_from_the_pool() {
    let Some(store) = postgres_store_on_this_thread(1).await else {
        return;
    };
    let mut holder = store.store.begin().await.unwrap();
    let (id, wait_id) = instance_with_an_item(&mut holder).await;
    // The worker's one connection is in the holder's transaction; the pool's wait timeout
    // is five seconds, so a second transaction that waited for it would not begin in time.
    let second = tokio::time::timeout(Duration::from_secs(2), store.store.begin())
        .await
        .expect("begun at once, on a connection of the pool")
        .unwrap();
    drop(second);
    holder.commit().await.unwrap();
    let mut reader = store.store.begin().await.unwrap();
    let (instance, wait) = reader
        .lock_instance_and_get_wait(id, wait_id)
        .await
        .unwrap();
    assert_eq!(instance.map(|i| i.id), Some(id));
    assert_eq!(wait.map(|w| w.id), Some(wait_id));
    reader.commit().await.unwrap();
}
