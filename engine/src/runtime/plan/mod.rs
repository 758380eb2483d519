//! The compiled plan of a workflow: built once at load, shared by every run. Actions are indexed
//! per container with their runAfter edges resolved to indexes, and every expression is a
//! compiled [`Template`].

pub mod retry;
pub mod script;

use crate::definition::action::{Action, ActionBody};
use crate::definition::inputs::{TableFormat, VariableInputs};
use crate::definition::model::{Actions, Dynamic, Workflow};
use crate::definition::names::{
    ActionType, Frequency, OperationOption, RetryType, RunStatus, VariableType, WorkflowKind,
};
use crate::error::Error;
use crate::expr::{Template, Value};
use crate::pointer::Pointer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A workflow ready to run.
#[derive(Debug)]
pub struct Plan {
    pub workflow: Arc<str>,
    /// A stateless workflow whose finished runs are still recorded in run history (the app
    /// setting `Workflows.<name>.OperationOptions` = `WithStatelessRunHistory`, as in Logic Apps).
    pub stateless_history: bool,
    /// The definition version (a hash of the file's text) and the text itself.
    pub version: String,
    pub source: Arc<str>,
    pub kind: WorkflowKind,
    pub trigger: Option<TriggerPlan>,
    pub root: Container,
    /// Workflow parameters: definition defaults overridden by the app's parameters.json.
    pub parameters: HashMap<String, Value>,
    /// `definition.staticResults`: name → (status, outputs).
    pub static_results: HashMap<String, (RunStatus, Value)>,
}

/// The trigger's run-time settings.
#[derive(Debug)]
pub struct TriggerPlan {
    pub name: Arc<str>,
    pub split_on: Option<Template>,
    pub conditions: Vec<Template>,
    /// `runtimeConfiguration.concurrency.runs`, if set.
    pub runs: Option<usize>,
    /// `runtimeConfiguration.concurrency.maximumWaitingRuns`, if set.
    pub maximum_waiting_runs: Option<usize>,
    /// A Request trigger's `inputs.schema`, when `EnableSchemaValidation` asks for requests
    /// to be checked against it on arrival.
    pub request_schema: Option<Value>,
    /// `runtimeConfiguration.secureData` of the trigger: its outputs (the event) are hidden
    /// on every surface that shows a run.
    pub secure_outputs: bool,
    /// `operationOptions` has `IncludeAuthorizationHeadersInOutputs`: the Request trigger keeps
    /// the `Authorization` header in its outputs (other credentials are always dropped).
    pub include_authorization: bool,
}

/// The actions of one container with their dependency edges.
#[derive(Debug, Default)]
pub struct Container {
    pub steps: Vec<Step>,
    /// For each step, the steps whose runAfter names it.
    pub dependents: Vec<Vec<usize>>,
}

/// One action, compiled.
#[derive(Debug)]
pub struct Step {
    pub name: Arc<str>,
    pub pointer: Pointer,
    pub action_type: ActionType,
    /// (predecessor index, statuses it must end in).
    pub run_after: Vec<(usize, Vec<RunStatus>)>,
    pub kind: StepKind,
    /// The inputs as a template, recorded in run history and given to handlers.
    pub inputs: Template,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    /// The `definition.staticResults` entry to use instead of running, when enabled.
    pub static_result: Option<String>,
    /// Whether the inputs call a function whose result differs per call (`utcNow`, `guid`,
    /// `rand` …): such a result is journaled, since replay could not recompute it.
    pub nondeterministic: bool,
    /// `runtimeConfiguration.secureData`: inputs and/or outputs hidden from run history.
    pub secure_inputs: bool,
    pub secure_outputs: bool,
    /// `operationOptions` (`DisableAsyncPattern`, `SuppressWorkflowHeaders` …), for handlers.
    pub operation_options: Vec<crate::definition::names::OperationOption>,
}

/// What a step does.
#[derive(Debug)]
pub enum StepKind {
    Scope(Container),
    If {
        condition: Template,
        then: Container,
        otherwise: Container,
    },
    Switch {
        on: Template,
        cases: Vec<(Value, Container)>,
        default: Container,
    },
    Foreach {
        items: Template,
        body: Container,
        concurrency: usize,
    },
    Until {
        condition: Template,
        body: Container,
        count: Template,
        timeout: Duration,
    },
    InitializeVariable(Vec<(Arc<str>, VariableType, Option<Template>)>),
    /// JavaScriptCode: compiled and cached per worker on first use.
    JavaScript(crate::runtime::plan::script::Script),
    SetVariable {
        name: Arc<str>,
        value: Template,
    },
    IncrementVariable {
        name: Arc<str>,
        value: Option<Template>,
        sign: i64,
    },
    AppendToArrayVariable {
        name: Arc<str>,
        value: Template,
    },
    AppendToStringVariable {
        name: Arc<str>,
        value: Template,
    },
    Compose(Template),
    ParseJson {
        content: Template,
        schema: Value,
    },
    Query {
        from: Template,
        filter: Template,
    },
    Select {
        from: Template,
        select: Template,
    },
    Join {
        from: Template,
        with: Template,
    },
    Table {
        csv: bool,
        from: Template,
        columns: Option<Vec<(Option<Template>, Template)>>,
    },
    Terminate {
        status: RunStatus,
        code: Option<Template>,
        message: Option<Template>,
    },
    Response {
        status_code: Template,
        headers: Option<Template>,
        body: Option<Template>,
    },
    Wait {
        interval: Option<(Template, Frequency)>,
        until: Option<Template>,
    },
    /// Executed by the handler registered for the action type (a connector).
    Handler,
}

/// A resolved retry policy.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryPolicy {
    None,
    Fixed {
        count: u32,
        interval: Duration,
    },
    Exponential {
        count: u32,
        interval: Duration,
        minimum: Duration,
        maximum: Duration,
    },
}

impl RetryPolicy {
    /// The default policy of Logic Apps Standard for HTTP-style actions: up to 4 retries,
    /// exponential from 7 s, between 5 s and 1 h.
    pub fn default_policy() -> RetryPolicy {
        RetryPolicy::Exponential {
            count: 4,
            interval: Duration::from_secs(7),
            minimum: Duration::from_secs(5),
            maximum: Duration::from_secs(3600),
        }
    }
}

/// Defaults of Logic Apps.
const FOREACH_DEFAULT_REPETITIONS: usize = 20;
const UNTIL_DEFAULT_COUNT: i64 = 60;
const UNTIL_DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

fn template(value: &serde_json::Value) -> Result<Template, Error> {
    Template::compile(value).map_err(|mut e| Error::Syntax(e.remove(0).error))
}

fn condition(value: &serde_json::Value) -> Result<Template, Error> {
    Template::compile_condition(value).map_err(|mut e| Error::Syntax(e.remove(0).error))
}

impl Plan {
    /// Compiles a valid workflow; `app_parameters` come from parameters.json.
    pub fn compile(
        workflow: &Workflow,
        app_parameters: &HashMap<String, Value>,
    ) -> Result<Plan, Error> {
        let definition = &workflow.definition;
        let mut parameters: HashMap<String, Value> = definition
            .parameters
            .iter()
            .filter_map(|(k, p)| {
                p.default_value
                    .clone()
                    .map(|v| (k.clone(), Value::from_json(v)))
            })
            .collect();
        parameters.extend(app_parameters.iter().map(|(k, v)| (k.clone(), v.clone())));
        let trigger = match definition.triggers.values().next() {
            Some(t) => {
                let concurrency = t.options.runtime_configuration.concurrency.as_ref();
                let single = t.options.has_option(OperationOption::SingleInstance);
                let secure = t.options.runtime_configuration.secure_data.as_ref();
                let hides = |what: &str| {
                    secure
                        .is_some_and(|s| s.properties.iter().any(|p| p.eq_ignore_ascii_case(what)))
                };
                Some(TriggerPlan {
                    name: Arc::from(t.name.as_str()),
                    split_on: t.split_on.as_ref().map(template).transpose()?,
                    conditions: t
                        .conditions
                        .iter()
                        .map(|c| template(&c.expression))
                        .collect::<Result<_, _>>()?,
                    runs: concurrency
                        .and_then(|c| c.runs)
                        .map(|r| r as usize)
                        .or(single.then_some(1)),
                    maximum_waiting_runs: concurrency
                        .and_then(|c| c.maximum_waiting_runs)
                        .map(|w| w as usize),
                    request_schema: t
                        .inputs
                        .get("schema")
                        .filter(|s| s.is_object())
                        .filter(|_| {
                            t.options
                                .has_option(OperationOption::EnableSchemaValidation)
                        })
                        .map(|s| Value::from_json(s.clone())),
                    secure_outputs: hides("outputs") || hides("inputs"),
                    include_authorization: t
                        .options
                        .has_option(OperationOption::IncludeAuthorizationHeadersInOutputs),
                })
            }
            None => None,
        };
        let root = container(&definition.actions)?;
        Ok(Plan {
            stateless_history: false,
            version: crate::store::version_of(&workflow.source),
            source: workflow.source.clone(),
            workflow: Arc::from(workflow.name.as_str()),
            kind: workflow.kind,
            trigger,
            root,
            parameters,
            static_results: definition
                .static_results
                .iter()
                .map(|(k, r)| (k.clone(), (r.status, Value::from_json(r.outputs.clone()))))
                .collect(),
        })
    }

    /// Applies the app settings that concern this workflow (`Workflows.<name>.OperationOptions`).
    pub fn with_settings(mut self, settings: &crate::definition::app::AppSettings) -> Plan {
        let options = settings
            .get(&format!("Workflows.{}.OperationOptions", self.workflow))
            .unwrap_or_default();
        self.stateless_history = options
            .split(',')
            .any(|o| o.trim().eq_ignore_ascii_case("WithStatelessRunHistory"));
        self
    }

    /// Actions at any depth.
    pub fn action_count(&self) -> usize {
        self.root.count()
    }

    /// Whether a Response action answers the caller (otherwise a Request trigger answers 202).
    pub fn responds(&self) -> bool {
        fn any(c: &Container) -> bool {
            c.steps.iter().any(|s| {
                matches!(s.kind, StepKind::Response { .. }) || s.children().into_iter().any(any)
            })
        }
        any(&self.root)
    }
}

impl Container {
    fn count(&self) -> usize {
        self.steps
            .iter()
            .map(|s| 1 + s.children().iter().map(|c| c.count()).sum::<usize>())
            .sum()
    }
}

impl Step {
    /// The containers inside this step.
    pub fn children(&self) -> Vec<&Container> {
        match &self.kind {
            StepKind::Scope(c)
            | StepKind::Foreach { body: c, .. }
            | StepKind::Until { body: c, .. } => vec![c],
            StepKind::If {
                then, otherwise, ..
            } => vec![then, otherwise],
            StepKind::Switch { cases, default, .. } => {
                cases.iter().map(|(_, c)| c).chain([default]).collect()
            }
            _ => Vec::new(),
        }
    }
}

fn container(actions: &Actions) -> Result<Container, Error> {
    let index: HashMap<String, usize> = actions
        .keys()
        .enumerate()
        .map(|(i, k)| (k.to_lowercase(), i))
        .collect();
    let mut dependents = vec![Vec::new(); actions.len()];
    let mut steps = Vec::with_capacity(actions.len());
    for (i, action) in actions.values().enumerate() {
        let run_after: Vec<(usize, Vec<RunStatus>)> = action
            .run_after
            .iter()
            .filter_map(|(name, statuses)| {
                index
                    .get(&name.to_lowercase())
                    .map(|&p| (p, statuses.clone()))
            })
            .collect();
        for (p, _) in &run_after {
            dependents[*p].push(i);
        }
        steps.push(step(action, run_after)?);
    }
    Ok(Container { steps, dependents })
}

fn literal_duration(
    d: &Option<Dynamic<crate::definition::duration::IsoDuration>>,
) -> Option<Duration> {
    d.as_ref()
        .and_then(Dynamic::literal)
        .map(|d| d.as_duration())
}

fn retry_policy(action: &Action) -> RetryPolicy {
    let defaults_to_retry = matches!(
        action.action_type,
        ActionType::Http
            | ActionType::HttpWebhook
            | ActionType::Function
            | ActionType::InvokeFunction
            | ActionType::Workflow
            | ActionType::ServiceProvider
            | ActionType::ApiConnection
            | ActionType::ApiConnectionWebhook
    );
    let Some(p) = &action.retry_policy else {
        return if defaults_to_retry {
            RetryPolicy::default_policy()
        } else {
            RetryPolicy::None
        };
    };
    let count = p
        .count
        .as_ref()
        .and_then(Dynamic::literal)
        .copied()
        .unwrap_or(4)
        .clamp(0, 90) as u32;
    let interval = literal_duration(&p.interval).unwrap_or(Duration::from_secs(7));
    match p.retry_type {
        RetryType::None => RetryPolicy::None,
        RetryType::Default => RetryPolicy::default_policy(),
        RetryType::Fixed => RetryPolicy::Fixed { count, interval },
        RetryType::Exponential => RetryPolicy::Exponential {
            count,
            interval,
            minimum: literal_duration(&p.minimum_interval).unwrap_or(Duration::from_secs(5)),
            maximum: literal_duration(&p.maximum_interval).unwrap_or(Duration::from_secs(3600)),
        },
    }
}

fn variable(v: &VariableInputs) -> Result<(Arc<str>, Option<Template>), Error> {
    Ok((
        Arc::from(v.name.as_str()),
        v.value.as_ref().map(template).transpose()?,
    ))
}

fn required(v: &VariableInputs) -> Result<(Arc<str>, Template), Error> {
    let (name, value) = variable(v)?;
    Ok((name, value.unwrap_or(Template::Literal(Value::Null))))
}

fn opt(value: &Option<serde_json::Value>) -> Result<Option<Template>, Error> {
    value.as_ref().map(template).transpose()
}

fn step(action: &Action, run_after: Vec<(usize, Vec<RunStatus>)>) -> Result<Step, Error> {
    use ActionBody as B;
    let kind = match &action.body {
        B::Scope { actions } => StepKind::Scope(container(actions)?),
        B::If {
            expression,
            actions,
            else_actions,
        } => StepKind::If {
            condition: condition(expression)?,
            then: container(actions)?,
            otherwise: container(else_actions)?,
        },
        B::Switch {
            expression,
            cases,
            default_actions,
        } => StepKind::Switch {
            on: template(expression)?,
            cases: cases
                .values()
                .map(|c| Ok((Value::from_json(c.case.clone()), container(&c.actions)?)))
                .collect::<Result<_, Error>>()?,
            default: container(default_actions)?,
        },
        B::Foreach { foreach, actions } => {
            let sequential = action.options.has_option(OperationOption::Sequential);
            let repetitions = action
                .options
                .runtime_configuration
                .concurrency
                .as_ref()
                .and_then(|c| c.repetitions);
            StepKind::Foreach {
                items: template(foreach)?,
                body: container(actions)?,
                concurrency: if sequential {
                    1
                } else {
                    repetitions.map_or(FOREACH_DEFAULT_REPETITIONS, |r| r.max(1) as usize)
                },
            }
        }
        B::Until {
            expression,
            actions,
        } => StepKind::Until {
            condition: condition(expression)?,
            body: container(actions)?,
            count: match &action.options.limit.count {
                Some(Dynamic::Expression(e)) => template(&serde_json::Value::from(e.as_str()))?,
                Some(Dynamic::Literal(n)) => Template::Literal(Value::Integer(*n)),
                None => Template::Literal(Value::Integer(UNTIL_DEFAULT_COUNT)),
            },
            timeout: literal_duration(&action.options.limit.timeout)
                .unwrap_or(UNTIL_DEFAULT_TIMEOUT),
        },
        B::InitializeVariable(inputs) => StepKind::InitializeVariable(
            inputs
                .variables
                .iter()
                .map(|v| Ok((Arc::from(v.name.as_str()), v.variable_type, opt(&v.value)?)))
                .collect::<Result<_, Error>>()?,
        ),
        B::SetVariable(v) => {
            let (name, value) = required(v)?;
            StepKind::SetVariable { name, value }
        }
        B::IncrementVariable(v) | B::DecrementVariable(v) => {
            let (name, value) = variable(v)?;
            let sign = if matches!(action.body, B::DecrementVariable(_)) {
                -1
            } else {
                1
            };
            StepKind::IncrementVariable { name, value, sign }
        }
        B::AppendToArrayVariable(v) => {
            let (name, value) = required(v)?;
            StepKind::AppendToArrayVariable { name, value }
        }
        B::AppendToStringVariable(v) => {
            let (name, value) = required(v)?;
            StepKind::AppendToStringVariable { name, value }
        }
        B::Compose(value) => StepKind::Compose(template(value)?),
        B::JavaScriptCode(js) => StepKind::JavaScript(crate::runtime::plan::script::Script::new(
            &js.code,
            js.explicit_dependencies
                .as_ref()
                .map_or(&[][..], |d| d.actions.as_slice()),
        )),
        B::ParseJson(p) => StepKind::ParseJson {
            content: template(&p.content)?,
            schema: Value::from_json(p.schema.clone()),
        },
        B::Query(q) => StepKind::Query {
            from: template(&q.from)?,
            filter: condition(&q.where_)?,
        },
        B::Select(s) => StepKind::Select {
            from: template(&s.from)?,
            select: template(&s.select)?,
        },
        B::Join(j) => StepKind::Join {
            from: template(&j.from)?,
            with: template(&j.join_with)?,
        },
        B::Table(t) => StepKind::Table {
            csv: t.format == TableFormat::Csv,
            from: template(&t.from)?,
            columns: t
                .columns
                .as_ref()
                .map(|cols| {
                    cols.iter()
                        .map(|c| Ok((opt(&c.header)?, template(&c.value)?)))
                        .collect::<Result<_, Error>>()
                })
                .transpose()?,
        },
        B::Terminate(t) => StepKind::Terminate {
            status: t.run_status,
            code: t
                .run_error
                .as_ref()
                .map(|e| opt(&e.code))
                .transpose()?
                .flatten(),
            message: t
                .run_error
                .as_ref()
                .map(|e| opt(&e.message))
                .transpose()?
                .flatten(),
        },
        B::Response(r) => StepKind::Response {
            status_code: template(&r.status_code)?,
            headers: opt(&r.headers)?,
            body: opt(&r.body)?,
        },
        B::Wait(w) => StepKind::Wait {
            interval: w
                .interval
                .as_ref()
                .map(|i| Ok::<_, Error>((template(&i.count)?, i.unit)))
                .transpose()?,
            until: w
                .until
                .as_ref()
                .map(|u| template(&u.timestamp))
                .transpose()?,
        },
        _ => StepKind::Handler,
    };
    let static_result = action
        .options
        .runtime_configuration
        .static_result
        .as_ref()
        .filter(|s| {
            s.static_result_options
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case("Enabled"))
        })
        .map(|s| s.name.clone());
    // JavaScript code is not an expression, even where it holds `@`.
    let inputs = if action.action_type == ActionType::JavaScriptCode {
        Template::Literal(Value::from_json(action.inputs.clone()))
    } else {
        template(&action.inputs)?
    };
    let mut nondeterministic = false;
    inputs.visit_calls(&mut |function, _| {
        nondeterministic |=
            crate::expr::functions::lookup(function).is_some_and(|f| f.nondeterministic)
    });
    if let StepKind::JavaScript(script) = &kind {
        // A script reading the clock or random numbers is journaled like utcNow() and rand().
        nondeterministic |= ["Date", "random", "crypto"]
            .iter()
            .any(|word| script.code.contains(word));
    }
    let secure = action.options.runtime_configuration.secure_data.as_ref();
    let hides = |what: &str| {
        secure.is_some_and(|s| s.properties.iter().any(|p| p.eq_ignore_ascii_case(what)))
    };
    Ok(Step {
        secure_inputs: hides("inputs"),
        secure_outputs: hides("outputs"),
        name: Arc::from(action.name.as_str()),
        pointer: action.pointer.clone(),
        action_type: action.action_type,
        run_after,
        kind,
        inputs,
        nondeterministic,
        retry: retry_policy(action),
        timeout: literal_duration(&action.options.limit.timeout)
            .filter(|_| action.action_type != ActionType::Until),
        static_result,
        operation_options: action.options.operation_options.clone(),
    })
}
