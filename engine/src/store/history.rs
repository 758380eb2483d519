//! Reading run history the way `sluice runs` and the management API both show it: the action
//! tree of a stored run, the results a resubmission from an action keeps, and the JSON of a
//! run header.

use super::{JournalEntry, RunHeader, StoredRun};
use crate::record::ActionRecord;
use std::sync::Arc;

/// "Running" for an unfinished run, else its final status.
pub fn status_text(h: &RunHeader) -> &'static str {
    if h.running {
        "Running"
    } else {
        h.status.as_str()
    }
}

/// A run header as `runs list --format json` and `GET …/runs` show it.
pub fn header_json(h: &RunHeader) -> serde_json::Value {
    serde_json::json!({
        "id": h.id, "workflow": h.workflow, "status": status_text(h), "startTime": h.start_time,
        "endTime": h.end_time, "version": h.version, "eventId": h.event_id, "error": h.error,
    })
}

/// A whole run: its header, trigger outputs and action tree.
pub fn run_json(run: &StoredRun) -> serde_json::Value {
    let mut doc = header_json(&run.header);
    doc["trigger"] = match run.header.secure_trigger {
        true => crate::record::secured_trigger(&run.header.trigger).to_json(),
        false => run.header.trigger.to_json(),
    };
    doc["actions"] = action_tree(run);
    doc
}

/// The action tree of a stored run: final, or the journal so far for a running one.
pub fn action_tree(run: &StoredRun) -> serde_json::Value {
    match &run.actions {
        Some(actions) => actions.clone(),
        None => serde_json::Value::Array(
            run.journal
                .iter()
                .map(|e| {
                    let mut record = crate::record::shown(&e.record);
                    record["path"] = serde_json::Value::from(e.path.as_str());
                    record
                })
                .collect(),
        ),
    }
}

/// The recorded results a resubmission from `action` keeps: every leaf action that started
/// before it.
pub fn replay_before(run: &StoredRun, action: &str) -> Result<Vec<JournalEntry>, String> {
    let mut all = Vec::new();
    leaves(&action_tree(run), "", &mut all);
    let chosen = all
        .iter()
        .find(|e| &*e.record.name == action)
        .ok_or_else(|| format!("run {} has no action '{action}' that ran", run.header.id))?
        .record
        .start_time;
    Ok(all
        .into_iter()
        .filter(|e| e.record.start_time < chosen)
        .collect())
}

/// Leaf records of a stored tree with their action paths (`Loop[2]/Call`).
fn leaves(actions: &serde_json::Value, prefix: &str, out: &mut Vec<JournalEntry>) {
    const CONTAINERS: [&str; 5] = ["Scope", "If", "Switch", "Foreach", "Until"];
    for a in actions.as_array().into_iter().flatten() {
        let name = a["name"].as_str().unwrap_or_default();
        let looped = matches!(a["type"].as_str(), Some("Foreach" | "Until"));
        match a["actions"].as_array().filter(|c| !c.is_empty()) {
            Some(children) => {
                for child in children {
                    let inner = match (looped, child["iteration"].as_i64()) {
                        (true, Some(i)) => format!("{prefix}{name}[{i}]/"),
                        _ => prefix.to_string(),
                    };
                    leaves(&serde_json::Value::Array(vec![child.clone()]), &inner, out);
                }
            }
            None if !CONTAINERS.contains(&a["type"].as_str().unwrap_or_default()) => {
                if let Ok(record) = serde_json::from_value::<ActionRecord>(a.clone()) {
                    out.push(JournalEntry {
                        path: format!("{prefix}{name}"),
                        record: Arc::new(record),
                    });
                }
            }
            None => {}
        }
    }
}
