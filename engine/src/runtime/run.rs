//! The state of one run while it executes, and what its expressions see.
//!
//! Action results live in frames: the run's root frame, and one frame per loop iteration
//! whose parent is the frame around the loop, so `body('X')` inside an iteration sees that
//! iteration's X. Results are [`Value`]s whose containers are shared, never deep-copied.

use crate::definition::names::VariableType;
use crate::definition::RunStatus;
use crate::expr::value::Map;
use crate::expr::{EvalContext, Value};
use crate::record::ActionRecord;
use crate::runtime::plan::Plan;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Canned results by action name (`sluice invoke --mocks`), used instead of running.
pub type Mocks = HashMap<String, Mock>;

/// A canned action result.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mock {
    #[serde(default = "succeeded")]
    pub status: RunStatus,
    #[serde(default)]
    pub outputs: Value,
    #[serde(default)]
    pub error: Value,
}

fn succeeded() -> RunStatus {
    RunStatus::Succeeded
}

/// Where app settings come from.
pub type Settings = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The shared state of one run.
pub struct RunState {
    pub id: Arc<str>,
    pub plan: Arc<Plan>,
    /// The trigger record: `{name, outputs: {headers, body}, startTime, status}`.
    pub trigger: Value,
    pub workflow: Value,
    pub settings: Settings,
    pub mocks: Arc<Mocks>,
    /// Where this run is journaled, when it is stateful and the engine has a store.
    pub store: Option<crate::store::SharedStore>,
    /// Recorded results by action path, when the run resumes or is resubmitted from an action.
    pub replay: HashMap<String, Arc<ActionRecord>>,
    /// The HTTP server's base URL, for `listCallbackUrl()`.
    pub base_url: Option<Arc<str>>,
    variables: Mutex<HashMap<Arc<str>, (VariableType, Value)>>,
    terminated: Mutex<Option<(RunStatus, Value)>>,
    response: Mutex<Value>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RunState {
    pub fn new(
        id: Arc<str>,
        plan: Arc<Plan>,
        trigger: Value,
        settings: Settings,
        mocks: Arc<Mocks>,
    ) -> RunState {
        let mut run = Map::default();
        run.insert("id".into(), Value::from(&*id));
        run.insert("name".into(), Value::from(&*id));
        let mut workflow = Map::default();
        workflow.insert("id".into(), Value::from(&*plan.workflow));
        workflow.insert("name".into(), Value::from(&*plan.workflow));
        workflow.insert("type".into(), Value::from("Microsoft.Logic/workflows"));
        workflow.insert("run".into(), Value::object(run));
        RunState {
            id,
            plan,
            trigger,
            workflow: Value::object(workflow),
            settings,
            mocks,
            store: None,
            replay: HashMap::new(),
            base_url: None,
            variables: Mutex::new(HashMap::new()),
            terminated: Mutex::new(None),
            response: Mutex::new(Value::Null),
        }
    }

    pub fn variables(&self) -> MutexGuard<'_, HashMap<Arc<str>, (VariableType, Value)>> {
        lock(&self.variables)
    }

    pub fn terminate(&self, status: RunStatus, error: Value) {
        lock(&self.terminated).get_or_insert((status, error));
    }

    pub fn terminated(&self) -> Option<(RunStatus, Value)> {
        lock(&self.terminated).clone()
    }

    pub fn is_terminated(&self) -> bool {
        lock(&self.terminated).is_some()
    }

    pub fn set_response(&self, response: Value) {
        *lock(&self.response) = response;
    }

    pub fn response(&self) -> Value {
        lock(&self.response).clone()
    }
}

/// The first-level records of a container, shared.
pub type Children = Arc<[Arc<ActionRecord>]>;

/// The current item and index of a loop iteration.
#[derive(Debug, Clone)]
pub struct LoopPosition {
    pub name: Arc<str>,
    pub item: Value,
    pub index: i64,
}

/// Action results visible at one level of loop nesting.
pub struct Frame<'a> {
    parent: Option<&'a Frame<'a>>,
    records: Mutex<HashMap<Arc<str>, Arc<ActionRecord>>>,
    /// `result('Scope')`: the first-level records of each container that finished here.
    results: Mutex<HashMap<Arc<str>, Children>>,
    pub position: Option<LoopPosition>,
    /// The action path of this frame for idempotency keys: `Loop[3]/`.
    pub path: String,
}

impl<'a> Frame<'a> {
    pub fn root() -> Frame<'static> {
        Frame {
            parent: None,
            records: Mutex::new(HashMap::with_capacity(32)),
            results: Mutex::new(HashMap::new()),
            position: None,
            path: String::new(),
        }
    }

    /// A frame for one iteration of the loop `name` inside `parent`.
    pub fn iteration(parent: &'a Frame<'a>, name: Arc<str>, item: Value, index: i64) -> Frame<'a> {
        Frame {
            path: format!("{}{name}[{index}]/", parent.path),
            parent: Some(parent),
            records: Mutex::new(HashMap::new()),
            results: Mutex::new(HashMap::new()),
            position: Some(LoopPosition { name, item, index }),
        }
    }

    pub fn record(&self, record: Arc<ActionRecord>) {
        lock(&self.records).insert(record.name.clone(), record);
    }

    pub fn set_result(&self, container: Arc<str>, results: Children) {
        lock(&self.results).insert(container, results);
    }

    /// Makes this iteration's results visible in the parent frame (the last iteration wins).
    pub fn publish_to_parent(&self) {
        if let Some(parent) = self.parent {
            let records = lock(&self.records).clone();
            lock(&parent.records).extend(records);
            let results = lock(&self.results).clone();
            lock(&parent.results).extend(results);
        }
    }

    fn find<T>(&self, get: impl Fn(&Frame<'_>) -> Option<T>) -> Option<T> {
        let mut frame = Some(self);
        while let Some(f) = frame {
            if let Some(found) = get(f) {
                return Some(found);
            }
            frame = f.parent;
        }
        None
    }
}

/// What an expression sees: the run, the frame it runs in, and the item of a Query, Select or
/// Table being evaluated.
pub struct RunContext<'a> {
    pub run: &'a RunState,
    pub frame: &'a Frame<'a>,
    pub item: Option<&'a Value>,
    /// While an HttpWebhook's inputs are evaluated: its idempotency key, which names the
    /// callback `listCallbackUrl()` gives.
    pub callback: Option<&'a str>,
}

/// The path of the callback URL of a webhook action with idempotency key `key`, signed:
/// `sig` is [`webhook_signature`], so only the service the URL was given to can call back.
pub fn webhook_callback_path(key: &str) -> String {
    format!(
        "/runtime/webhooks/workflow/callbacks/{}?sig={}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC),
        webhook_signature(key)
    )
}

/// The signature of webhook callback `key`: SHA-256 of a random secret of this process and
/// the key, 128 bits in hex. The key alone (run id and action name) is guessable from run
/// history; the signature is not. A run resumed by another process subscribes again with a
/// new URL.
pub fn webhook_signature(key: &str) -> String {
    use sha2::Digest;
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let secret = SECRET.get_or_init(|| {
        let mut s = [0u8; 32];
        s[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        s[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        s
    });
    let mut hash = sha2::Sha256::new();
    hash.update(secret);
    hash.update(key.as_bytes());
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl EvalContext for RunContext<'_> {
    fn parameter(&self, name: &str) -> Option<Value> {
        self.run.plan.parameters.get(name).cloned()
    }

    fn variable(&self, name: &str) -> Option<Value> {
        self.run.variables().get(name).map(|(_, v)| v.clone())
    }

    fn app_setting(&self, name: &str) -> Option<Value> {
        (self.run.settings)(name).map(Value::from)
    }

    fn trigger(&self) -> Option<Value> {
        Some(self.run.trigger.clone())
    }

    /// The record of an action that has run. An action that has not run — in a branch not
    /// taken, or skipped — reads as null, as in Logic Apps; so does a name the workflow does
    /// not define, which validation warns about.
    fn action(&self, name: &str) -> Option<Value> {
        let found = self
            .frame
            .find(|f| lock(&f.records).get(name).map(|r| r.to_value()));
        Some(found.unwrap_or_default())
    }

    fn action_outputs(&self, name: &str) -> Option<Value> {
        let found = self
            .frame
            .find(|f| lock(&f.records).get(name).map(|r| r.outputs.clone()));
        Some(found.unwrap_or_default())
    }

    fn item(&self) -> Option<Value> {
        match self.item {
            Some(item) => Some(item.clone()),
            None => self
                .frame
                .find(|f| f.position.as_ref().map(|p| p.item.clone())),
        }
    }

    fn items(&self, loop_name: &str) -> Option<Value> {
        self.frame.find(|f| {
            f.position
                .as_ref()
                .filter(|p| &*p.name == loop_name)
                .map(|p| p.item.clone())
        })
    }

    fn iteration_index(&self, loop_name: &str) -> Option<i64> {
        self.frame.find(|f| {
            f.position
                .as_ref()
                .filter(|p| &*p.name == loop_name)
                .map(|p| p.index)
        })
    }

    fn result(&self, scope: &str) -> Option<Value> {
        let records = self.frame.find(|f| lock(&f.results).get(scope).cloned())?;
        Some(Value::array(records.iter().map(|r| r.to_value()).collect()))
    }

    fn workflow(&self) -> Value {
        self.run.workflow.clone()
    }

    fn callback_url(&self) -> Option<Value> {
        let base = self.run.base_url.as_deref()?;
        Some(Value::from(match self.callback {
            Some(key) => format!("{base}{}", webhook_callback_path(key)),
            None => format!(
                "{base}/api/{}/triggers/{}/invoke",
                self.run.plan.workflow,
                self.run
                    .plan
                    .trigger
                    .as_ref()
                    .map_or("manual", |t| &*t.name)
            ),
        }))
    }
}
