//! A JavaScriptCode action as planned: its code, the hash its compiled form is cached under,
//! and the actions it reads. Running it is `builtin::javascript`'s job.

use std::sync::Arc;

/// A compiled JavaScriptCode action: its code, the hash it is cached under, and the actions
/// its `workflowContext.actions` exposes (explicit dependencies plus those the code names).
#[derive(Debug)]
pub struct Script {
    pub code: Arc<str>,
    pub id: u64,
    pub actions: Vec<Arc<str>>,
}

impl Script {
    pub fn new(code: &str, explicit: &[String]) -> Script {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        code.hash(&mut hasher);
        let mut actions: Vec<Arc<str>> = explicit.iter().map(|a| Arc::from(a.as_str())).collect();
        for name in referenced_actions(code) {
            if !actions.iter().any(|a| **a == *name) {
                actions.push(Arc::from(name));
            }
        }
        Script {
            code: Arc::from(code),
            id: hasher.finish(),
            actions,
        }
    }
}

/// Action names the code reads as `actions.Name`, `actions['Name']` or `actions["Name"]`.
fn referenced_actions(code: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("actions") {
        rest = &rest[at + "actions".len()..];
        let name = if let Some(dotted) = rest.strip_prefix('.') {
            let end = dotted
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(dotted.len());
            &dotted[..end]
        } else if let Some(quoted) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            quoted.find(['\'', '"']).map_or("", |end| &quoted[..end])
        } else {
            ""
        };
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_actions_are_found() {
        let s = Script::new("workflowContext.actions.Get_document.outputs; workflowContext.actions['B'].x; actions[\"C\"]", &["Z".into()]);
        let names: Vec<&str> = s.actions.iter().map(|a| &**a).collect();
        assert_eq!(names, ["Z", "Get_document", "B", "C"]);
    }
}
