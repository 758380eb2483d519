//! The store on its own: what survives a reopen, segments rolled under unfinished runs, and
//! what recovery makes of each kind of log content.

use super::*;
use crate::definition::ActionType;
use crate::record::ActionRecord;

fn dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(super) fn header(id: &str) -> RunHeader {
    RunHeader {
        id: id.to_string(),
        workflow: "Orders".into(),
        version: "v1".into(),
        status: RunStatus::Succeeded,
        running: true,
        start_time: Utc::now(),
        end_time: None,
        trigger: Value::from_json(serde_json::json!({"body": {"id": id}})),
        error: Value::Null,
        event_id: Some(format!("orders/0/{id}")),
        secure_trigger: false,
    }
}

pub(super) fn entry(path: &str) -> JournalEntry {
    let mut record = ActionRecord::new(
        Arc::from(path),
        ActionType::Http,
        RunStatus::Succeeded,
        Utc::now(),
    );
    record.outputs = Value::from(format!("result of {path}"));
    JournalEntry {
        path: path.to_string(),
        record: Arc::new(record),
    }
}

pub(super) fn finished(mut h: RunHeader, status: RunStatus) -> RunHeader {
    h.running = false;
    h.status = status;
    h.end_time = Some(Utc::now());
    h
}

fn journal_paths(store: &DiskStore, id: &str) -> Vec<String> {
    let mut paths: Vec<String> = store
        .run(id)
        .unwrap()
        .unwrap()
        .journal
        .into_iter()
        .map(|e| e.path)
        .collect();
    paths.sort();
    paths
}

fn running(store: &DiskStore) -> Vec<String> {
    let filter = RunFilter {
        running: true,
        ..Default::default()
    };
    let mut ids: Vec<String> = store
        .list(&filter)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    ids.sort();
    ids
}

async fn admit(store: &DiskStore, id: &str, paths: &[&str]) {
    store.save_definition("v1", "{}").await.unwrap();
    store.put_run(&header(id)).await.unwrap();
    for path in paths {
        store.journal(id, entry(path)).await.unwrap();
    }
}

#[tokio::test]
async fn unfinished_runs_and_their_journals_survive_a_reopen() {
    let dir = dir("reopen");
    {
        let store = DiskStore::open(&dir).unwrap();
        admit(&store, "A1", &["First", "Loop[0]/Call"]).await;
        admit(&store, "A2", &[]).await;
        store
            .finish_run(&finished(header("A2"), RunStatus::Succeeded), vec![])
            .await
            .unwrap();
        assert_eq!(running(&store), ["A1"]);
        assert_eq!(store.list(&RunFilter::default()).unwrap().len(), 2);
    }
    let store = DiskStore::open(&dir).unwrap();
    assert_eq!(running(&store), ["A1"]);
    assert_eq!(journal_paths(&store, "A1"), ["First", "Loop[0]/Call"]);
    assert_eq!(store.definition("v1").unwrap().as_deref(), Some("{}"));
    assert_eq!(
        store
            .claim_event("orders/0/A1", "other")
            .unwrap()
            .as_deref(),
        Some("A1")
    );
    let a2 = store.run("A2").unwrap().unwrap();
    assert!(!a2.header.running);
    assert!(a2.actions.is_some());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn segments_roll_under_unfinished_runs_without_losing_them() {
    let dir = dir("roll");
    let settings = StoreSettings {
        segment_bytes: 1,
        ..Default::default()
    };
    {
        // Every batch fills a segment: runs span many, and checkpoints move the unfinished
        // ones into sled, so that recovery need not read the old segments.
        let store = DiskStore::open_with(&dir, &settings).unwrap();
        admit(&store, "B1", &["One", "Two"]).await;
        admit(&store, "B2", &["One"]).await;
        store.journal("B1", entry("Three")).await.unwrap();
        store
            .finish_run(&finished(header("B2"), RunStatus::Succeeded), vec![])
            .await
            .unwrap();
        let segments = std::fs::read_dir(dir.join(log::FOLDER)).unwrap().count() as u64;
        let read_from = store.trees.log_read_from().unwrap();
        assert!(
            read_from + 3 >= segments,
            "recovery would read from segment {read_from} of {segments}"
        );
        assert_eq!(journal_paths(&store, "B1"), ["One", "Three", "Two"]);
    }
    let store = DiskStore::open_with(&dir, &settings).unwrap();
    assert_eq!(running(&store), ["B1"]);
    assert_eq!(journal_paths(&store, "B1"), ["One", "Three", "Two"]);
    store
        .finish_run(&finished(header("B1"), RunStatus::Failed), vec![])
        .await
        .unwrap();
    drop(store);
    let store = DiskStore::open_with(&dir, &settings).unwrap();
    assert!(running(&store).is_empty(), "a finished run is not resumed");
    let b1 = store.run("B1").unwrap().unwrap();
    assert_eq!(b1.header.status, RunStatus::Failed);
    assert!(b1.journal.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn recovery_folds_a_log_sled_never_saw() {
    let dir = dir("fold");
    {
        // What a crash leaves: log segments, and a sled that has none of their content.
        std::fs::create_dir_all(dir.join(log::FOLDER)).unwrap();
        let mut log = log::Log::start(&dir).unwrap();
        let mut framed = Vec::new();
        let records = [
            live::LogRecord::Definition {
                version: "v1".into(),
                text: "{}".into(),
            },
            live::LogRecord::Admitted(header("C1")),
            live::LogRecord::Journaled {
                run: "C1".into(),
                entry: entry("Call"),
            },
            live::LogRecord::Admitted(header("C2")),
            live::LogRecord::Ended(finished(header("C2"), RunStatus::Cancelled)),
            live::LogRecord::Admitted(header("C3")),
            live::LogRecord::Ended(finished(header("C3"), RunStatus::Succeeded)),
            live::LogRecord::Admitted(header("C4")),
            live::LogRecord::Finished(Box::new(live::Finished {
                header: finished(header("C4"), RunStatus::Succeeded),
                tree: trees::encode_tree(
                    &[entry("Call").record],
                    &mut crate::record::LargeValues {
                        threshold: 0,
                        found: Vec::new(),
                    },
                ),
                large: Vec::new(),
            })),
        ];
        for record in records {
            log::frame_with(&mut framed, |out| record.encode(out));
        }
        framed.extend_from_slice(&[7, 0, 0]);
        log.append(&framed).unwrap();
    }
    let store = DiskStore::open(&dir).unwrap();
    // C3 ended (an earlier version's record), but sled never got its history: it is replayed
    // from its journal. C4's history is in the log: it is done.
    assert_eq!(running(&store), ["C1", "C3"]);
    let c4 = store.run("C4").unwrap().unwrap();
    assert!(!c4.header.running);
    assert_eq!(c4.header.trigger.to_json()["body"]["id"], "C4");
    assert_eq!(c4.actions.unwrap()[0]["name"], "Call");
    assert_eq!(journal_paths(&store, "C1"), ["Call"]);
    let c2 = store.run("C2").unwrap().unwrap();
    assert_eq!(c2.header.status, RunStatus::Cancelled);
    assert!(!c2.header.running);
    assert_eq!(c2.header.trigger.to_json()["body"]["id"], "C2");
    assert_eq!(store.definition("v1").unwrap().as_deref(), Some("{}"));
    assert_eq!(
        store.claim_event("orders/0/C1", "x").unwrap().as_deref(),
        Some("C1")
    );
    drop(store);
    let segments = || std::fs::read_dir(dir.join(log::FOLDER)).unwrap().count();
    assert_eq!(segments(), 2, "history reads C4 from the folded segment");
    let store = DiskStore::open(&dir).unwrap();
    assert_eq!(store.run("C4").unwrap().unwrap().header.id, "C4");
    assert_eq!(running(&store), ["C1", "C3"], "folded once: not again");
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_purge_deletes_the_log_segments_that_hold_only_purged_runs() {
    let dir = dir("purge-segments");
    let id = |age: chrono::Duration, name: &str| {
        format!("{:012X}-{name}", (Utc::now() - age).timestamp_millis())
    };
    let (old, new) = (
        id(chrono::Duration::days(2), "OLD"),
        id(chrono::Duration::zero(), "NEW"),
    );
    {
        // A segment per batch.
        let settings = StoreSettings {
            segment_bytes: 1,
            ..StoreSettings::default()
        };
        let store = DiskStore::open_with(&dir, &settings).unwrap();
        for id in [&old, &new] {
            store.put_run(&header(id)).await.unwrap();
            let end = finished(header(id), RunStatus::Succeeded);
            store
                .finish_run(&end, vec![entry("Call").record])
                .await
                .unwrap();
        }
    }
    let segments = || std::fs::read_dir(dir.join(log::FOLDER)).unwrap().count();
    assert_eq!(
        segments(),
        5,
        "two batches per run, and one opened at recovery"
    );
    let store = DiskStore::open(&dir).unwrap();
    assert_eq!(
        store.purge(Utc::now() - chrono::Duration::days(1)).unwrap(),
        1
    );
    assert!(store.run(&old).unwrap().is_none());
    let kept = store.run(&new).unwrap().unwrap();
    assert_eq!(kept.actions.unwrap()[0]["name"], "Call");
    assert_eq!(kept.header.trigger.to_json()["body"]["id"], new.as_str());
    assert_eq!(
        segments(),
        2,
        "the new run's end is kept, and the segment being appended to"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_store_written_as_json_before_the_log_existed_still_reads() {
    let dir = dir("legacy");
    {
        // The layout before the journal log: JSON headers, trees and journal entries in sled,
        // and no index of unfinished runs.
        let db = sled::open(&dir).unwrap();
        let runs = db.open_tree("runs").unwrap();
        let done = finished(header("D1"), RunStatus::Succeeded);
        runs.insert("D1", serde_json::to_vec(&done).unwrap())
            .unwrap();
        runs.insert("D2", serde_json::to_vec(&header("D2")).unwrap())
            .unwrap();
        let tree = serde_json::json!([{"name": "Call", "type": "Http", "status": "Succeeded"}]);
        let trees = db.open_tree("action_trees").unwrap();
        trees
            .insert("D1", serde_json::to_vec(&tree).unwrap())
            .unwrap();
        let journal = db.open_tree("journal").unwrap();
        let key = trees::key(&[b"D2", b"First"]);
        journal
            .insert(key, serde_json::to_vec(&entry("First")).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let store = DiskStore::open(&dir).unwrap();
    assert_eq!(running(&store), ["D2"]);
    assert_eq!(journal_paths(&store, "D2"), ["First"]);
    let d1 = store.run("D1").unwrap().unwrap();
    assert_eq!(d1.actions.unwrap()[0]["name"], "Call");
    assert_eq!(store.list(&RunFilter::default()).unwrap().len(), 2);
    store
        .finish_run(&finished(header("D2"), RunStatus::Succeeded), vec![])
        .await
        .unwrap();
    assert!(running(&store).is_empty());
    assert!(store.run("D2").unwrap().unwrap().journal.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
