//! Workflow functions: what a run knows — trigger, actions, variables, parameters, loop items,
//! app settings — read through the [`EvalContext`](crate::expr::EvalContext).

use super::{binary_bytes, f, fail, Args, FnResult, Function};
use crate::expr::value::{Map, Value};
use percent_encoding::percent_decode_str;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("action", 0, 0, current_action),
    f!("actions", 1, 1, actions),
    f!("actionBody", 1, 1, body),
    f!("body", 1, 1, body),
    f!("actionOutputs", 1, 1, outputs),
    f!("outputs", 1, 1, outputs),
    f!("trigger", 0, 0, trigger),
    f!("triggerBody", 0, 0, trigger_body),
    f!("triggerOutputs", 0, 0, trigger_outputs),
    f!("variables", 1, 1, variables),
    f!("parameters", 1, 1, parameters),
    f!("appsetting", 1, 1, app_setting),
    f!("item", 0, 0, item),
    f!("items", 1, 1, items),
    f!("iterationIndexes", 1, 1, iteration_indexes),
    f!("result", 1, 1, result),
    f!("workflow", 0, 0, workflow),
    f!("listCallbackUrl", 0, 0, list_callback_url),
    f!("formDataValue", 2, 2, form_data_value),
    f!("formDataMultiValues", 2, 2, form_data_multi_values),
    f!("multipartBody", 2, 2, multipart_body),
    f!("triggerFormDataValue", 1, 1, trigger_form_data_value),
    f!(
        "triggerFormDataMultiValues",
        1,
        1,
        trigger_form_data_multi_values
    ),
    f!("triggerMultipartBody", 1, 1, trigger_multipart_body),
];

fn current_action(args: &mut Args<'_>) -> FnResult {
    match args.ctx.current_action() {
        Some(a) => Ok(a),
        None => fail("action() is only available in an action's trackedProperties"),
    }
}

fn action_record(args: &Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.action(name) {
        Some(record) => Ok(record),
        None => fail(format!(
            "the action '{name}' doesn't exist or hasn't run yet"
        )),
    }
}

fn actions(args: &mut Args<'_>) -> FnResult {
    action_record(args)
}

fn action_outputs(args: &Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.action_outputs(name) {
        Some(outputs) => Ok(outputs),
        None => fail(format!(
            "the action '{name}' doesn't exist or hasn't run yet"
        )),
    }
}

fn body(args: &mut Args<'_>) -> FnResult {
    Ok(action_outputs(args)?
        .get("body")
        .cloned()
        .unwrap_or_default())
}

fn outputs(args: &mut Args<'_>) -> FnResult {
    action_outputs(args)
}

fn trigger(args: &mut Args<'_>) -> FnResult {
    match args.ctx.trigger() {
        Some(t) => Ok(t),
        None => fail("this workflow has no trigger output yet"),
    }
}

fn trigger_outputs(args: &mut Args<'_>) -> FnResult {
    Ok(trigger(args)?.get("outputs").cloned().unwrap_or_default())
}

fn trigger_body(args: &mut Args<'_>) -> FnResult {
    Ok(trigger_outputs(args)?
        .get("body")
        .cloned()
        .unwrap_or_default())
}

fn variables(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.variable(name) {
        Some(v) => Ok(v),
        None => fail(format!(
            "the variable '{name}' is not initialized; add an InitializeVariable action"
        )),
    }
}

fn parameters(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.parameter(name) {
        Some(v) => Ok(v),
        None => fail(format!("the parameter '{name}' is not defined")),
    }
}

fn app_setting(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.app_setting(name) {
        Some(v) => Ok(v),
        None => fail(format!(
            "the app setting '{name}' is not set (local.settings.json Values or the environment)"
        )),
    }
}

fn item(args: &mut Args<'_>) -> FnResult {
    match args.ctx.item() {
        Some(v) => Ok(v),
        None => fail("item() is only available inside a Foreach, or in a Query, Select or Table"),
    }
}

fn items(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.items(name) {
        Some(v) => Ok(v),
        None => fail(format!("'{name}' is not a Foreach loop around this action")),
    }
}

fn iteration_indexes(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.iteration_index(name) {
        Some(i) => Ok(Value::Integer(i)),
        None => fail(format!(
            "'{name}' is not an Until or Foreach loop around this action"
        )),
    }
}

fn result(args: &mut Args<'_>) -> FnResult {
    let name = args.str(0)?;
    match args.ctx.result(name) {
        Some(v) => Ok(v),
        None => fail(format!(
            "'{name}' is not a Scope, Foreach or Until that has run"
        )),
    }
}

fn workflow(args: &mut Args<'_>) -> FnResult {
    Ok(args.ctx.workflow())
}

fn list_callback_url(args: &mut Args<'_>) -> FnResult {
    match args.ctx.callback_url() {
        Some(url) => Ok(url),
        None => fail("this workflow has no callback URL (it needs a Request trigger and a running HTTP server)"),
    }
}

/// The form fields of a body: `$formdata` as Logic Apps records it, or urlencoded content.
fn form_fields(body: &Value) -> Vec<(String, Value)> {
    if let Some(fields) = body.get("$formdata").and_then(Value::as_array) {
        return fields
            .iter()
            .filter_map(|f| Some((f.get("key")?.as_str()?.to_string(), f.get("value")?.clone())))
            .collect();
    }
    let text = match body {
        Value::String(s) => s.to_string(),
        other => binary_bytes(other)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), Value::from(decode(v)))
        })
        .collect()
}

fn field_values(body: &Value, key: &str) -> Vec<Value> {
    form_fields(body)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

fn single_value(body: &Value, key: &str) -> FnResult {
    let mut values = field_values(body, key);
    match values.len() {
        1 => Ok(values.remove(0)),
        0 => fail(format!("the form has no field '{key}'")),
        n => fail(format!(
            "the form has {n} values for '{key}'; use formDataMultiValues"
        )),
    }
}

fn action_body(args: &Args<'_>) -> FnResult {
    Ok(action_outputs(args)?
        .get("body")
        .cloned()
        .unwrap_or_default())
}

fn form_data_value(args: &mut Args<'_>) -> FnResult {
    single_value(&action_body(args)?, args.str(1)?)
}

fn form_data_multi_values(args: &mut Args<'_>) -> FnResult {
    Ok(Value::array(field_values(
        &action_body(args)?,
        args.str(1)?,
    )))
}

fn trigger_form_data_value(args: &mut Args<'_>) -> FnResult {
    let key = args.str(0)?.to_string();
    single_value(&trigger_body(args)?, &key)
}

fn trigger_form_data_multi_values(args: &mut Args<'_>) -> FnResult {
    let key = args.str(0)?.to_string();
    Ok(Value::array(field_values(&trigger_body(args)?, &key)))
}

/// Part `index` of a multipart body as Logic Apps records it (`$multipart: [{headers, body}]`).
fn part(body: &Value, index: i64) -> FnResult {
    let parts = body.get("$multipart").and_then(Value::as_array);
    match parts.and_then(|p| usize::try_from(index).ok().and_then(|i| p.get(i))) {
        Some(part) => Ok(part
            .get("body")
            .cloned()
            .unwrap_or_else(|| Value::object(Map::default()))),
        None => fail(format!("the body has no multipart part {index}")),
    }
}

fn multipart_body(args: &mut Args<'_>) -> FnResult {
    part(&action_body(args)?, args.int(1)?)
}

fn trigger_multipart_body(args: &mut Args<'_>) -> FnResult {
    let index = args.int(0)?;
    part(&trigger_body(args)?, index)
}
