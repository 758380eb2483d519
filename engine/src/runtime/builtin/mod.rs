//! The built-in actions that need no I/O and run inline: variables, Compose, ParseJson, Query,
//! Select, Join, Table, Terminate and Response; JavaScriptCode, which runs on its own thread
//! pool ([`javascript`]).

pub mod javascript;
pub mod schema;
mod table;

use crate::definition::names::VariableType;
use crate::expr::eval::describe;
use crate::expr::functions::to_text;
use crate::expr::value::Map;
use crate::expr::EvalContext;
use crate::expr::{Template, Value};
use crate::runtime::plan::{Step, StepKind};
use crate::runtime::run::RunContext;
use std::sync::Arc;

/// Why an action failed: a Logic Apps error code and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn to_value(&self) -> Value {
        let mut map = Map::default();
        map.insert("code".into(), Value::from(self.code.as_str()));
        map.insert("message".into(), Value::from(self.message.as_str()));
        Value::object(map)
    }
}

/// Inputs and outputs of a successful inline action.
pub type Done = (Value, Value);

fn eval(template: &Template, scope: &RunContext<'_>) -> Result<Value, Failure> {
    template
        .evaluate(scope)
        .map_err(|e| Failure::new("InvalidTemplate", e.message))
}

pub(super) fn body(value: Value) -> Value {
    let mut map = Map::default();
    map.insert("body".into(), value);
    Value::object(map)
}

fn named(name: &str, value: Value) -> Value {
    let mut map = Map::default();
    map.insert("name".into(), Value::from(name));
    map.insert("value".into(), value);
    Value::object(map)
}

/// Whether a step runs inline (no I/O, no children).
pub fn is_inline(step: &Step) -> bool {
    !matches!(
        step.kind,
        StepKind::Scope(_)
            | StepKind::If { .. }
            | StepKind::Switch { .. }
            | StepKind::Foreach { .. }
            | StepKind::Until { .. }
            | StepKind::Wait { .. }
            | StepKind::Handler
            | StepKind::JavaScript(_)
    )
}

/// Runs an inline step.
pub fn execute(step: &Step, scope: &RunContext<'_>) -> Result<Done, Failure> {
    match &step.kind {
        StepKind::InitializeVariable(vars) => initialize(vars, scope),
        StepKind::SetVariable { name, value } => {
            let value = eval(value, scope)?;
            let new = update(scope, name, |t, _| {
                check_type(name, t, &value)?;
                Ok(coerce(t, value.clone()))
            })?;
            Ok((named(name, value), body(new)))
        }
        StepKind::IncrementVariable { name, value, sign } => {
            let by = match value {
                Some(t) => eval(t, scope)?,
                None => Value::Integer(1),
            };
            let new = update(scope, name, |_, current| {
                increment(name, current, &by, *sign)
            })?;
            Ok((named(name, by), body(new)))
        }
        StepKind::AppendToArrayVariable { name, value } => {
            let item = eval(value, scope)?;
            let new = update(scope, name, |_, current| match current {
                Value::Array(items) => {
                    let mut items = items.clone();
                    Arc::make_mut(&mut items).push(item.clone());
                    Ok(Value::Array(items))
                }
                other => Err(Failure::new(
                    "InvalidVariableType",
                    format!(
                        "AppendToArrayVariable needs an array variable, but '{name}' is {}",
                        describe(other)
                    ),
                )),
            })?;
            Ok((named(name, item), body(new)))
        }
        StepKind::AppendToStringVariable { name, value } => {
            let text = eval(value, scope)?;
            let new = update(scope, name, |_, current| match current {
                Value::String(s) => Ok(Value::from(format!("{s}{}", to_text(&text)))),
                other => Err(Failure::new(
                    "InvalidVariableType",
                    format!(
                        "AppendToStringVariable needs a string variable, but '{name}' is {}",
                        describe(other)
                    ),
                )),
            })?;
            Ok((named(name, text), body(new)))
        }
        StepKind::Compose(t) => {
            let v = eval(t, scope)?;
            Ok((v.clone(), v))
        }
        StepKind::ParseJson { content, schema: s } => parse_json(eval(content, scope)?, s),
        StepKind::Query { from, filter } => {
            let items = array(eval(from, scope)?, "Query")?;
            let mut kept = Vec::new();
            for item in items.iter() {
                match eval(
                    filter,
                    &RunContext {
                        item: Some(item),
                        ..*scope
                    },
                )? {
                    Value::Bool(true) => kept.push(item.clone()),
                    Value::Bool(false) => {}
                    other => {
                        return Err(Failure::new(
                            "InvalidTemplate",
                            format!(
                                "the Query condition must be a boolean but is {}",
                                describe(&other)
                            ),
                        ))
                    }
                }
            }
            Ok((Value::Array(items), body(Value::array(kept))))
        }
        StepKind::Select { from, select } => {
            let items = array(eval(from, scope)?, "Select")?;
            let mapped = items
                .iter()
                .map(|item| {
                    eval(
                        select,
                        &RunContext {
                            item: Some(item),
                            ..*scope
                        },
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((Value::Array(items), body(Value::array(mapped))))
        }
        StepKind::Join { from, with } => {
            let items = array(eval(from, scope)?, "Join")?;
            let separator = to_text(&eval(with, scope)?);
            let text: Vec<String> = items.iter().map(to_text).collect();
            Ok((
                Value::Array(items),
                body(Value::from(text.join(&separator))),
            ))
        }
        StepKind::Table { csv, from, columns } => {
            let items = array(eval(from, scope)?, "Table")?;
            let text =
                crate::runtime::builtin::table::render(*csv, &items, columns.as_deref(), scope)
                    .map_err(|e| Failure::new("InvalidTemplate", e))?;
            Ok((Value::Array(items), body(Value::from(text))))
        }
        StepKind::Terminate {
            status,
            code,
            message,
        } => {
            let mut error = Map::default();
            if let Some(c) = code {
                error.insert("code".into(), eval(c, scope)?);
            }
            if let Some(m) = message {
                error.insert("message".into(), eval(m, scope)?);
            }
            let error = if error.is_empty() {
                Value::Null
            } else {
                Value::object(error)
            };
            scope.run.terminate(*status, error.clone());
            let mut inputs = Map::default();
            inputs.insert("runStatus".into(), Value::from(status.as_str()));
            inputs.insert("runError".into(), error);
            Ok((Value::object(inputs), Value::Null))
        }
        StepKind::Response {
            status_code,
            headers,
            body: b,
        } => {
            let mut response = Map::default();
            response.insert("statusCode".into(), eval(status_code, scope)?);
            response.insert(
                "headers".into(),
                headers
                    .as_ref()
                    .map(|h| eval(h, scope))
                    .transpose()?
                    .unwrap_or_default(),
            );
            response.insert(
                "body".into(),
                b.as_ref()
                    .map(|b| eval(b, scope))
                    .transpose()?
                    .unwrap_or_default(),
            );
            let response = Value::object(response);
            scope.run.set_response(response.clone());
            Ok((response.clone(), response))
        }
        _ => Err(Failure::new(
            "InternalError",
            format!("'{}' is not an inline action", step.name),
        )),
    }
}

fn array(value: Value, action: &str) -> Result<Arc<Vec<Value>>, Failure> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(Failure::new(
            "InvalidTemplate",
            format!(
                "{action} needs an array in `from` but got {}",
                describe(&other)
            ),
        )),
    }
}

fn default_value(t: VariableType) -> Value {
    match t {
        VariableType::Boolean => Value::Bool(false),
        VariableType::Integer => Value::Integer(0),
        VariableType::Float => Value::Float(0.0),
        VariableType::String => Value::from(""),
        VariableType::Array => Value::array(Vec::new()),
        VariableType::Object => Value::object(Map::default()),
    }
}

/// Float variables hold floats even when given an integer, as Logic Apps stores them.
fn coerce(t: VariableType, value: Value) -> Value {
    match (t, value) {
        (VariableType::Float, Value::Integer(i)) => Value::Float(i as f64),
        (_, v) => v,
    }
}

fn check_type(name: &str, t: VariableType, value: &Value) -> Result<(), Failure> {
    let ok = match t {
        VariableType::Boolean => matches!(value, Value::Bool(_)),
        VariableType::Integer => matches!(value, Value::Integer(_)),
        VariableType::Float => value.is_number(),
        VariableType::String => matches!(value, Value::String(_)),
        VariableType::Array => matches!(value, Value::Array(_)),
        VariableType::Object => matches!(value, Value::Object(_)),
    } || value.is_null();
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            "InvalidVariableType",
            format!(
                "the variable '{name}' of type {t} cannot hold {}",
                describe(value)
            ),
        ))
    }
}

fn initialize(
    vars: &[(Arc<str>, VariableType, Option<Template>)],
    scope: &RunContext<'_>,
) -> Result<Done, Failure> {
    let mut declared = Vec::new();
    for (name, t, value) in vars {
        let value = match value {
            Some(v) => eval(v, scope)?,
            None => default_value(*t),
        };
        check_type(name, *t, &value)?;
        let value = coerce(*t, value);
        let mut variables = scope.run.variables();
        if variables.contains_key(name) {
            return Err(Failure::new(
                "VariableAlreadyInitialized",
                format!("the variable '{name}' is already initialized"),
            ));
        }
        variables.insert(name.clone(), (*t, value.clone()));
        let mut entry = Map::default();
        entry.insert("name".into(), Value::from(&**name));
        entry.insert("type".into(), Value::from(t.as_str()));
        entry.insert("value".into(), value);
        declared.push(Value::object(entry));
    }
    let mut inputs = Map::default();
    inputs.insert("variables".into(), Value::array(declared));
    Ok((Value::object(inputs), Value::Null))
}

/// Replaces a variable's value with `change(type, current)`, under the run's variable lock.
fn update(
    scope: &RunContext<'_>,
    name: &str,
    change: impl FnOnce(VariableType, &Value) -> Result<Value, Failure>,
) -> Result<Value, Failure> {
    let mut variables = scope.run.variables();
    let Some((t, current)) = variables.get_mut(name) else {
        return Err(Failure::new(
            "VariableNotInitialized",
            format!("the variable '{name}' is not initialized; add an InitializeVariable action at the top level"),
        ));
    };
    let new = change(*t, current)?;
    *current = new.clone();
    Ok(new)
}

fn increment(name: &str, current: &Value, by: &Value, sign: i64) -> Result<Value, Failure> {
    let bad = |what: &Value| {
        Failure::new(
            "InvalidVariableType",
            format!(
                "cannot increment or decrement '{name}' by {}",
                describe(what)
            ),
        )
    };
    match (current, by) {
        (Value::Integer(a), Value::Integer(b)) => a
            .checked_add(b.checked_mul(sign).ok_or_else(|| bad(by))?)
            .map(Value::Integer)
            .ok_or_else(|| {
                Failure::new(
                    "InvalidOperation",
                    format!("the variable '{name}' overflows"),
                )
            }),
        (a, b) if a.is_number() && b.is_number() => Ok(Value::Float(
            a.as_f64().unwrap_or_default() + sign as f64 * b.as_f64().unwrap_or_default(),
        )),
        (a, _) if !a.is_number() => Err(Failure::new(
            "InvalidVariableType",
            format!(
                "only integer and float variables can be incremented, and '{name}' is {}",
                describe(a)
            ),
        )),
        (_, b) => Err(bad(b)),
    }
}

fn parse_json(content: Value, s: &Value) -> Result<Done, Failure> {
    let parsed = match &content {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| Failure::new("InvalidJSON", format!("the content is not JSON: {e}")))?,
        other => other.clone(),
    };
    schema::validate(&parsed, s).map_err(|e| {
        Failure::new(
            "InvalidJSON",
            format!("the content does not match the schema: {e}"),
        )
    })?;
    let mut inputs = Map::default();
    inputs.insert("content".into(), content);
    inputs.insert("schema".into(), s.clone());
    Ok((Value::object(inputs), body(parsed)))
}

/// JavaScriptCode: what the script sees, `workflowContext` ({trigger, actions, workflow}),
/// and its limits from the app settings. The script itself runs on the script pool
/// (`javascript::run_on_pool`); its return value is `outputs.body`.
pub(super) fn javascript_context(
    script: &crate::runtime::plan::script::Script,
    scope: &RunContext<'_>,
) -> (Value, crate::runtime::builtin::javascript::Limits) {
    use crate::runtime::builtin::javascript::{Limits, DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TIMEOUT};
    let setting = |name: &str| (scope.run.settings)(name).and_then(|v| v.parse::<f64>().ok());
    let limits = Limits {
        timeout: setting("Sluice.JavaScript.TimeoutSeconds")
            .filter(|s| *s > 0.0)
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .unwrap_or(DEFAULT_TIMEOUT),
        memory_mb: setting("Sluice.JavaScript.MemoryLimitMB")
            .filter(|m| *m >= 1.0 && *m <= 65_536.0)
            .map_or(DEFAULT_MEMORY_LIMIT_MB, |m| m as usize),
    };
    let mut actions = Map::default();
    for name in &script.actions {
        actions.insert(name.to_string(), scope.action(name).unwrap_or_default());
    }
    let mut context = Map::default();
    context.insert("trigger".into(), scope.trigger().unwrap_or_default());
    context.insert("actions".into(), Value::object(actions));
    context.insert("workflow".into(), scope.workflow());
    (Value::object(context), limits)
}
