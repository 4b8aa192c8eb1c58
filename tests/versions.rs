//! Definition versions on both stores: instances keep the version they started with across
//! restarts, deploys and nodes with other files; deploys that do not load change nothing;
//! the review counts stranded instances; migrations (dry run, real, refused); retention.

mod support;

store_suite!(
    a_renamed_step_keeps_old_instances_on_their_version,
    a_deploy_keeps_waiting_instances_on_their_version,
    two_nodes_with_different_files_resume_each_others_instances,
    an_invalid_deploy_changes_nothing_and_keeps_serving,
    the_review_counts_instances_stranded_by_a_change,
    migration_dry_run_then_real_run,
    a_refused_mapping_changes_nothing,
    retention_purges_only_old_ended_instances,
);

mod cases {
    use std::time::Duration;

    use holdpoint::engine::migration::MigrationRequest;
    use holdpoint::engine::{InstanceView, StartRequest};
    use holdpoint::services::deploy::{self, DeployError};
    use holdpoint::store::{InstanceStatus, WaitKind};
    use serde_json::{Map, Value, json};

    use super::support::workflows::{ORDER_V1 as V1, ORDER_V2 as V2};
    use super::support::{
        TestEngine, TestStore, caller, engine, engine_with, test_config, workflows,
    };

    async fn start(te: &TestEngine, order: &str) -> InstanceView {
        let mut fields = Map::new();
        fields.insert("order_id".into(), json!(order));
        let request = StartRequest {
            workflow: "order-fulfilment".into(),
            fields,
            folio: None,
            event: json!({}),
            caller: caller(),
            idempotency_key: None,
        };
        te.engine.start(request).await.expect("start").instance
    }

    fn serial_of(view: &InstanceView) -> String {
        view.waits
            .first()
            .and_then(|wait| wait.serial.clone())
            .expect("open server item")
    }

    async fn finish(te: &TestEngine, serial: &str) -> InstanceView {
        te.engine
            .finish_server_item(serial, &Map::new(), &caller(), None)
            .await
            .expect("finish")
            .instance
    }

    fn hash_of(source: &str) -> String {
        workflows(&[source])
            .iter()
            .next()
            .expect("one workflow")
            .hash
            .clone()
    }

    /// A workflows folder holding `source` as order-fulfilment.toml.
    fn folder(source: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("order-fulfilment.toml"), source).expect("write");
        dir
    }

    pub async fn a_renamed_step_keeps_old_instances_on_their_version(store: TestStore) {
        let old = engine(&store, &[V1]).await;
        let view = start(&old, "A1").await;
        assert_eq!(view.version, hash_of(V1));
        let serial = serial_of(&view);
        drop(old);
        // The file changes and the node restarts with it.
        let restarted = engine(&store, &[V2]).await;
        let done = finish(&restarted, &serial).await;
        assert_eq!(done.status, InstanceStatus::Completed, "{done:?}");
        assert_eq!(done.fields["path"], json!("v1"), "ran on its own version");
        assert_eq!(done.version, hash_of(V1));
        let fresh = start(&restarted, "A2").await;
        assert_eq!(fresh.version, hash_of(V2), "new instances take the newest");
        assert_eq!(fresh.waits[0].step, "place-order-v2");
    }

    pub async fn a_deploy_keeps_waiting_instances_on_their_version(store: TestStore) {
        let dir = folder(V1);
        let te = engine(&store, &[V1]).await;
        let waiting = start(&te, "B1").await;
        std::fs::write(dir.path().join("order-fulfilment.toml"), V2).expect("write");
        let report = deploy::deploy(&te.engine, dir.path())
            .await
            .expect("deploy");
        assert_eq!(report.workflows.len(), 1);
        assert!(report.workflows[0].new_version);
        assert_eq!(report.workflows[0].version, hash_of(V2));
        let fresh = start(&te, "B2").await;
        assert_eq!(fresh.version, hash_of(V2));
        let done = finish(&te, &serial_of(&waiting)).await;
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["path"], json!("v1"));
        let done = finish(&te, &serial_of(&fresh)).await;
        assert_eq!(done.fields["path"], json!("v2"));
    }

    pub async fn two_nodes_with_different_files_resume_each_others_instances(store: TestStore) {
        let node_old = engine(&store, &[V1]).await;
        let node_new = engine_with(store.another_node().await, &[V2], test_config()).await;
        let on_old = start(&node_old, "C1").await;
        let on_new = start(&node_new, "C2").await;
        let timing_out = start(&node_new, "C3").await;
        assert_eq!(on_old.version, hash_of(V1));
        assert_eq!(on_new.version, hash_of(V2));
        // Each node finishes the other's instance, with the instance's version.
        let done = finish(&node_new, &serial_of(&on_old)).await;
        assert_eq!(done.fields["path"], json!("v1"));
        let done = finish(&node_old, &serial_of(&on_new)).await;
        assert_eq!(done.fields["path"], json!("v2"));
        assert_eq!(done.status, InstanceStatus::Completed);
        // The old node times out a v2 instance into a step only v2 has.
        node_old.clock.advance(Duration::from_secs(7200));
        assert!(node_old.engine.expire_due_waits().await.expect("expire") >= 1);
        let late = node_old
            .engine
            .get(timing_out.id, &caller())
            .await
            .expect("get");
        assert_eq!(late.fields["path"], json!("late-v2"), "{late:?}");
        assert_eq!(late.status, InstanceStatus::Completed);
    }

    pub async fn an_invalid_deploy_changes_nothing_and_keeps_serving(store: TestStore) {
        let dir = folder(V1);
        let te = engine(&store, &[V1]).await;
        let broken = V2.replace("on_timeout = \"late-v2\"", "on_timeout = \"nowhere\"");
        std::fs::write(dir.path().join("order-fulfilment.toml"), broken).expect("write");
        match deploy::deploy(&te.engine, dir.path()).await {
            Err(DeployError::Invalid(problems)) => {
                let text = problems.join("\n");
                assert!(text.contains("order-fulfilment.toml"), "{text}");
                assert!(text.contains("place-order-v2"), "names the step: {text}");
                assert!(text.contains("on_timeout"), "names the field: {text}");
            }
            other => panic!("expected an invalid deploy, got {other:?}"),
        }
        assert_eq!(
            te.engine.workflows().iter().next().map(|w| w.hash.clone()),
            Some(hash_of(V1))
        );
        let view = start(&te, "D1").await;
        assert_eq!(
            view.version,
            hash_of(V1),
            "still serving the current version"
        );
        let versions = te
            .engine
            .versions(&view.workflow_id)
            .await
            .expect("versions");
        assert_eq!(
            versions.len(),
            1,
            "nothing of the invalid folder was stored"
        );
    }

    pub async fn the_review_counts_instances_stranded_by_a_change(store: TestStore) {
        let te = engine(&store, &[V1]).await;
        for order in ["E1", "E2"] {
            start(&te, order).await;
        }
        let finished = start(&te, "E3").await;
        finish(&te, &serial_of(&finished)).await;
        let reviews = te.engine.review(&workflows(&[V2])).await.expect("review");
        assert_eq!(reviews.len(), 1);
        let review = &reviews[0];
        assert!(review.new_version);
        assert_eq!(review.older.len(), 1);
        assert_eq!(review.older[0].version, hash_of(V1));
        assert_eq!(
            review.older[0].instances, 2,
            "ended instances are not counted"
        );
        let kinds: Vec<(&str, &str, i64)> = review.older[0]
            .findings
            .iter()
            .map(|f| (f.kind, f.subject.as_str(), f.instances))
            .collect();
        assert!(
            kinds.contains(&("step_removed", "place-order", 2)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("field_removed", "legacy_note", 2)),
            "{kinds:?}"
        );
        // The unchanged definition strands nobody.
        let same = te.engine.review(&workflows(&[V1])).await.expect("review");
        assert!(!same[0].has_findings() && !same[0].new_version);
    }

    fn migration(to: &str, map: &[(&str, &str)], dry_run: bool) -> MigrationRequest {
        MigrationRequest {
            workflow: "order-fulfilment".into(),
            to: to.into(),
            map: map
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            dry_run,
            caller: caller(),
        }
    }

    pub async fn migration_dry_run_then_real_run(store: TestStore) {
        let old = engine(&store, &[V1]).await;
        let first = start(&old, "F1").await;
        let second = start(&old, "F2").await;
        let te = engine(&store, &[V2]).await;
        let map = [("place-order", "place-order-v2")];
        let dry = te
            .engine
            .migrate(&migration("current", &map, true))
            .await
            .expect("dry run");
        assert!(dry.dry_run && !dry.applied);
        assert_eq!(dry.instances.len(), 2);
        let plan = &dry.instances[0];
        assert_eq!(plan.instance_id, first.id);
        assert_eq!(plan.waits[0].1, "place-order");
        assert_eq!(plan.waits[0].2, "place-order-v2");
        assert_eq!(plan.fields_dropped, ["legacy_note"]);
        assert_eq!(plan.fields_added, ["priority"]);
        assert!(plan.refused.is_none());
        let unchanged = te.engine.get(first.id, &caller()).await.expect("get");
        assert_eq!(unchanged.version, hash_of(V1), "a dry run changes nothing");

        let real = te
            .engine
            .migrate(&migration(&hash_of(V2), &map, false))
            .await
            .expect("migrate");
        assert!(real.applied);
        let moved = te.engine.get(first.id, &caller()).await.expect("get");
        assert_eq!(moved.version, hash_of(V2));
        assert_eq!(moved.waits[0].step, "place-order-v2");
        assert_eq!(moved.fields["priority"], json!(3));
        assert!(!moved.fields.contains_key("legacy_note"));
        let history = te
            .engine
            .history(first.id, &caller())
            .await
            .expect("history");
        let migrated = history
            .iter()
            .find(|h| h.kind == "migrated")
            .expect("a migrated history row");
        assert_eq!(migrated.actor, "tester");
        let detail: Value = serde_json::to_value(&migrated.detail).expect("detail");
        assert_eq!(detail["from"], json!(hash_of(V1)));
        assert_eq!(detail["to"], json!(hash_of(V2)));
        // The old serials still work, and the instances now run version 2.
        for view in [&first, &second] {
            let done = finish(&te, &serial_of(view)).await;
            assert_eq!(done.fields["path"], json!("v2"));
            assert_eq!(done.status, InstanceStatus::Completed);
        }
    }

    pub async fn a_refused_mapping_changes_nothing(store: TestStore) {
        let old = engine(&store, &[V1]).await;
        let view = start(&old, "G1").await;
        let te = engine(&store, &[V2]).await;
        // A server item cannot become a custom-event wait.
        let report = te
            .engine
            .migrate(&migration(
                "current",
                &[("place-order", "wait-ship")],
                false,
            ))
            .await
            .expect("a report");
        assert!(!report.applied);
        let why = report.instances[0].refused.clone().expect("refused");
        assert!(why.contains("wait_event"), "{why}");
        let unchanged = te.engine.get(view.id, &caller()).await.expect("get");
        assert_eq!(unchanged.version, hash_of(V1));
        assert_eq!(unchanged.waits[0].step, "place-order");
        assert_eq!(unchanged.waits[0].kind, WaitKind::ServerItem);
        let history = te
            .engine
            .history(view.id, &caller())
            .await
            .expect("history");
        assert!(history.iter().all(|h| h.kind != "migrated"));
        // Unmapped, the step does not exist in version 2: refused too.
        let report = te
            .engine
            .migrate(&migration("current", &[], true))
            .await
            .expect("a report");
        assert!(report.instances[0].refused.is_some());
        // A mapping onto a step the target lacks is refused before anything is planned.
        assert!(
            te.engine
                .migrate(&migration("current", &[("place-order", "nope")], false))
                .await
                .is_err()
        );
        let done = finish(&te, &serial_of(&view)).await;
        assert_eq!(
            done.fields["path"],
            json!("v1"),
            "still on version 1, still works"
        );
    }

    pub async fn retention_purges_only_old_ended_instances(store: TestStore) {
        let mut config = test_config();
        config.retention.ended_after = Duration::from_secs(86_400);
        config.retention.batch_size = 2;
        let te = engine_with(store.store.clone(), &[V1], config).await;
        let mut ended = Vec::new();
        for order in ["H1", "H2", "H3"] {
            let view = start(&te, order).await;
            finish(&te, &serial_of(&view)).await;
            ended.push(view.id);
        }
        let cancelled = start(&te, "H4").await;
        te.engine
            .cancel(cancelled.id, &caller())
            .await
            .expect("cancel");
        ended.push(cancelled.id);
        // Waiting for longer than the retention: never purged.
        let waiting = start(&te, "H5").await;
        te.clock.advance(Duration::from_secs(3600));
        let recent = start(&te, "H6").await;
        finish(&te, &serial_of(&recent)).await;
        assert_eq!(
            te.engine.purge_ended().await.expect("purge"),
            0,
            "nothing old enough"
        );
        te.clock.advance(Duration::from_secs(86_400 - 1800));
        // In batches of two: 2, then 2, then nothing.
        assert_eq!(te.engine.purge_ended().await.expect("purge"), 2);
        assert_eq!(te.engine.purge_ended().await.expect("purge"), 2);
        assert_eq!(te.engine.purge_ended().await.expect("purge"), 0);
        for id in ended {
            assert!(
                te.engine.get(id, &caller()).await.is_err(),
                "instance {id} purged"
            );
            assert!(
                te.engine
                    .history(id, &caller())
                    .await
                    .map_or(true, |h| h.is_empty())
            );
        }
        let still = te
            .engine
            .get(waiting.id, &caller())
            .await
            .expect("open instance kept");
        assert_eq!(still.status, InstanceStatus::Waiting);
        assert!(
            !te.engine
                .history(waiting.id, &caller())
                .await
                .expect("history")
                .is_empty()
        );
        te.engine
            .get(recent.id, &caller())
            .await
            .expect("recently ended kept");
        // The waiting instance still finishes after the purge around it.
        let done = finish(&te, &serial_of(&waiting)).await;
        assert_eq!(done.status, InstanceStatus::Completed);
    }
}
