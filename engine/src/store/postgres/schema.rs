//! The store's tables, created and upgraded by versioned migrations.
//!
//! Each migration runs once, in order, in one transaction with the version it brings recorded
//! in `sluice_schema`. Instances that start together take a transaction-scoped advisory lock
//! first, so exactly one of them applies a migration and the others see it applied.

use super::super::StoreError;
use postgres::Client;

/// The migrations, oldest first: (version, SQL). Never edit one that has shipped; add another.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE sluice_definitions (
         version text PRIMARY KEY,
         text text NOT NULL
     );
     CREATE TABLE sluice_runs (
         id text PRIMARY KEY,
         workflow text NOT NULL,          -- lower case, for the index
         status text NOT NULL,
         running boolean NOT NULL,
         start_ms bigint NOT NULL,
         progress_ms bigint NOT NULL,     -- start, or the end of its last journaled action
         header bytea NOT NULL,           -- the binary run header
         tree bytea                       -- the final action tree, binary, once ended
     );
     CREATE INDEX sluice_runs_by_workflow ON sluice_runs (workflow, id DESC);
     CREATE INDEX sluice_runs_running ON sluice_runs (id) WHERE running;
     CREATE TABLE sluice_journal (
         run_id text NOT NULL,
         path text NOT NULL,
         entry bytea NOT NULL,            -- JSON
         PRIMARY KEY (run_id, path)
     );
     CREATE TABLE sluice_events (
         event_id text PRIMARY KEY,
         run_id text NOT NULL
     );
     CREATE INDEX sluice_events_by_run ON sluice_events (run_id);",
)];

/// A key for `pg_advisory_xact_lock`: migrations of one database, one at a time.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365_0001;

/// The tables a store's size counts.
pub const TABLES: &[&str] = &[
    "sluice_definitions",
    "sluice_runs",
    "sluice_journal",
    "sluice_events",
];

/// Brings the database's tables to the newest version; returns the versions applied.
pub fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sluice_schema (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM sluice_schema", &[])?
        .get(0);
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO sluice_schema (version) VALUES ($1)",
            &[version],
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}
