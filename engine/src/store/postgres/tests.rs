//! The PostgreSQL store against the machine's PostgreSQL: each test in a database of its own.
//! With `CI=true` a missing server fails the test; elsewhere the test says so and skips.

use super::*;
use crate::definition::RunStatus;
use crate::store::tests::{entry, finished};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The server's maintenance database, where test databases are created.
fn server() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test, dropped when the test ends.
struct TestDb {
    name: String,
    url: String,
}

impl std::ops::Deref for TestDb {
    type Target = str;
    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            Client::connect(&server(), NoTls).and_then(|mut c| c.batch_execute(&statement))
        })
        .join();
    }
}

/// A fresh database for one test, or `None` (skipped) when there is no server outside CI.
fn database(name: &str) -> Option<TestDb> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let db = format!(
        "sluice_test_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = server();
    let (drop, create) = (
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    );
    // The blocking client cannot run inside the test's runtime.
    let created = std::thread::spawn(move || {
        let mut c = Client::connect(&url, NoTls)?;
        c.batch_execute(&drop)?;
        c.batch_execute(&create)
    })
    .join()
    .expect("no panic");
    match created {
        Ok(()) => {
            let base = server();
            let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
            Some(TestDb {
                url: format!("{root}/{db}"),
                name: db,
            })
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL is needed at {}: {e:?}", server())
        }
        Err(e) => {
            eprintln!("skipped: no PostgreSQL at {} ({e:?})", server());
            None
        }
    }
}

/// The embedded store's test run header, of `workflow`.
fn header(id: &str, workflow: &str) -> RunHeader {
    RunHeader {
        workflow: workflow.into(),
        ..crate::store::tests::header(id)
    }
}

fn ids(headers: Vec<RunHeader>) -> Vec<String> {
    headers.into_iter().map(|h| h.id).collect()
}

async fn admit(store: &PgStore, id: &str, workflow: &str, paths: &[&str]) {
    store.save_definition("v1", "{}").await.unwrap();
    store.put_run(&header(id, workflow)).await.unwrap();
    for path in paths {
        store.journal(id, entry(path)).await.unwrap();
    }
}

#[tokio::test]
async fn runs_journals_and_claims_survive_a_reopen() {
    let Some(url) = database("reopen") else {
        return;
    };
    {
        let store = PgStore::open(&url, false).unwrap();
        admit(&store, "A1", "Orders", &["First", "Loop[0]/Call"]).await;
        admit(&store, "A2", "Orders", &[]).await;
        let record = Arc::new(entry("Reply").record.as_ref().clone());
        store
            .finish_run(
                &finished(header("A2", "Orders"), RunStatus::Failed),
                vec![record],
            )
            .await
            .unwrap();
    }
    let store = PgStore::open(&url, false).unwrap();
    let running = RunFilter {
        running: true,
        ..Default::default()
    };
    assert_eq!(ids(store.list(&running).unwrap()), ["A1"]);
    let a1 = store.run("A1").unwrap().unwrap();
    let paths: Vec<String> = a1.journal.into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["First", "Loop[0]/Call"]);
    assert_eq!(store.definition("v1").unwrap().as_deref(), Some("{}"));
    assert_eq!(
        store
            .claim_event("orders/0/A1", "other")
            .unwrap()
            .as_deref(),
        Some("A1")
    );
    assert_eq!(store.claim_event("orders/0/new", "N1").unwrap(), None);
    assert_eq!(
        store.claim_event("orders/0/new", "N2").unwrap().as_deref(),
        Some("N1")
    );
    let a2 = store.run("A2").unwrap().unwrap();
    assert!(!a2.header.running);
    assert_eq!(a2.header.status, RunStatus::Failed);
    assert!(a2.journal.is_empty());
    let tree = a2.actions.unwrap().to_string();
    assert!(tree.contains("result of Reply"), "{tree}");
}

#[tokio::test]
async fn lists_filter_and_purge_finished_runs() {
    let Some(url) = database("list") else { return };
    let store = PgStore::open(&url, false).unwrap();
    for (id, workflow) in [("R1", "Orders"), ("R2", "Billing"), ("R3", "Orders")] {
        admit(&store, id, workflow, &["Step"]).await;
    }
    let done = finished(header("R1", "Orders"), RunStatus::Succeeded);
    store.finish_run(&done, vec![]).await.unwrap();
    let list = |f: RunFilter| ids(store.list(&f).unwrap());
    assert_eq!(list(RunFilter::default()), ["R3", "R2", "R1"]);
    let orders = RunFilter {
        workflow: Some("orders".into()),
        ..Default::default()
    };
    assert_eq!(list(orders), ["R3", "R1"]);
    let succeeded = RunFilter {
        status: Some(RunStatus::Succeeded),
        ..Default::default()
    };
    assert_eq!(list(succeeded), ["R1"]);
    let first = RunFilter {
        limit: 1,
        ..Default::default()
    };
    assert_eq!(list(first), ["R3"]);
    let stuck = RunFilter {
        stuck_for: Some(std::time::Duration::from_secs(3600)),
        ..Default::default()
    };
    assert!(list(stuck).is_empty(), "nothing has been stuck for an hour");
    assert!(store.size_on_disk().unwrap() > 0);
    let later = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.purge(later).unwrap(), 1, "only the finished run goes");
    assert!(store.run("R1").unwrap().is_none());
    assert_eq!(store.claim_event("orders/0/R1", "again").unwrap(), None);
    assert_eq!(list(RunFilter::default()), ["R3", "R2"]);
}

#[tokio::test]
async fn a_batch_of_concurrent_writes_commits_together() {
    let Some(url) = database("batch") else { return };
    let store = Arc::new(PgStore::open(&url, false).unwrap());
    store.put_run(&header("B1", "Orders")).await.unwrap();
    let writes: Vec<_> = (0..300)
        .map(|i| store.journal("B1", entry(&format!("Loop[{i}]/Call"))))
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    assert_eq!(store.run("B1").unwrap().unwrap().journal.len(), 300);
}

#[tokio::test]
async fn one_instance_writes_and_any_reads() {
    let Some(url) = database("lock") else { return };
    let writer = PgStore::open(&url, false).unwrap();
    admit(&writer, "L1", "Orders", &[]).await;
    let second = PgStore::open(&url, false)
        .err()
        .expect("a second writer is refused");
    assert!(
        second.to_string().contains("another sluice instance"),
        "{second}"
    );
    let reader = PgStore::open(&url, true).unwrap();
    assert_eq!(ids(reader.list(&RunFilter::default()).unwrap()), ["L1"]);
    drop(writer);
    let mut again = None;
    for _ in 0..50 {
        // The lock goes with the writer's connection, which closes as its thread ends.
        match PgStore::open(&url, false) {
            Ok(store) => {
                again = Some(store);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    assert!(again.is_some(), "the lock is free once the writer is gone");
}
