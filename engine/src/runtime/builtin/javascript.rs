//! The JavaScriptCode action: inline JavaScript run by QuickJS (rquickjs).
//!
//! The code is the body of a function of `workflowContext` (so a top-level `return` gives the
//! action's `outputs.body`), compiled once per worker thread and cached by its hash. Each
//! worker thread keeps one QuickJS runtime and context (`thread_local!`), so a run pays
//! neither for creating an engine nor for parsing. Values cross between Rust and JavaScript
//! by walking them, without a JSON text round trip.
//!
//! Sandbox: QuickJS's core has no file, network, process or module access (`require`,
//! `import`, `os`, `std` do not exist). Every execution has a time limit (app setting
//! `Sluice.JavaScript.TimeoutSeconds`, default 15) enforced by QuickJS's interrupt handler,
//! and the worker's heap a memory limit (`Sluice.JavaScript.MemoryLimitMB`, default 64): a
//! script over either fails the action. A script error fails it with the script's message
//! and line.
//!
//! Scripts run on a pool of dedicated threads, one per core ([`run_on_pool`]), never on the
//! async workers: a busy script delays neither the HTTP server nor other runs' actions, and
//! the pool bounds how many scripts (and QuickJS heaps) exist at once. Values crossing the
//! boundary are bounded in depth and size ([`MAX_VALUE_DEPTH`], [`MAX_RESULT_VALUES`]), so a
//! deep or cyclic result fails its action, not the process.

use crate::expr::value::Map;
use crate::expr::Value;
use crate::runtime::builtin::Failure;
use crate::runtime::plan::script::Script;
use rquickjs::{Array, Context, Ctx, Function, Object, Persistent, Runtime, Type};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Logic Apps' limit on a JavaScriptCode action's time.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The heap of one worker's JavaScript engine.
pub const DEFAULT_MEMORY_LIMIT_MB: usize = 64;
/// Logic Apps' limit on the length of `code`.
pub const MAX_CODE_CHARS: usize = 100_000;

/// What one execution needs from the run.
pub struct Limits {
    pub timeout: Duration,
    pub memory_mb: usize,
}

/// One worker thread's engine and compiled scripts.
struct Worker {
    // Field order matters: compiled functions go before the context, the context before
    // the runtime.
    compiled: HashMap<u64, Persistent<Function<'static>>>,
    context: Context,
    runtime: Runtime,
    /// Nanoseconds after `epoch` past which the running script is interrupted; 0 = none.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    memory_mb: usize,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

impl Worker {
    fn new(memory_mb: usize) -> Result<Worker, Failure> {
        let engine = |e: rquickjs::Error| Failure::new("JavaScriptEngineFailed", e.to_string());
        let runtime = Runtime::new().map_err(engine)?;
        runtime.set_memory_limit(memory_mb << 20);
        runtime.set_max_stack_size(1 << 20);
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watch = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let at = watch.load(Relaxed);
            at != 0 && epoch.elapsed().as_nanos() as u64 > at
        })));
        let context = Context::full(&runtime).map_err(engine)?;
        Ok(Worker {
            compiled: HashMap::new(),
            context,
            runtime,
            deadline,
            epoch,
            memory_mb,
        })
    }
}

/// One script to run on the pool, and where its result goes.
struct Job {
    code: Arc<str>,
    id: u64,
    context: Value,
    limits: Limits,
    done: tokio::sync::oneshot::Sender<Result<Value, Failure>>,
}

/// The script threads' queue.
struct Pool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

/// Stack of a script thread: QuickJS keeps below 1 MiB of it ([`Worker::new`]), the value
/// conversions below [`MAX_VALUE_DEPTH`] frames.
const POOL_STACK: usize = 8 << 20;

fn pool() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("sluice-js-{i}"))
                .stack_size(POOL_STACK)
                .spawn(move || serve(&rx));
        }
        Pool {
            jobs: std::sync::Mutex::new(tx),
        }
    })
}

fn serve(jobs: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let Job {
            code,
            id,
            context,
            limits,
            done,
        } = job;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            execute_code(&code, id, &context, &limits)
        }))
        .unwrap_or_else(|_| {
            // The engine may be half-way through anything: the next script gets a new one.
            WORKER.with(|cell| cell.borrow_mut().take());
            Err(Failure::new(
                "JavaScriptEngineFailed",
                "the JavaScript engine failed while running the script",
            ))
        });
        let _ = done.send(result);
    }
}

/// Runs `script` on the script pool (see the module's doc) and waits for its result.
pub async fn run_on_pool(
    script: &Script,
    workflow_context: Value,
    limits: Limits,
) -> Result<Value, Failure> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job = Job {
        code: script.code.clone(),
        id: script.id,
        context: workflow_context,
        limits,
        done,
    };
    let sent = pool()
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job);
    if sent.is_err() {
        return Err(Failure::new(
            "JavaScriptEngineFailed",
            "the script pool has stopped",
        ));
    }
    result.await.unwrap_or_else(|_| {
        Err(Failure::new(
            "JavaScriptEngineFailed",
            "the script pool has stopped",
        ))
    })
}

/// Runs `script` with `workflow_context` as its argument on this thread; the returned value,
/// or the failure.
pub fn execute(
    script: &Script,
    workflow_context: &Value,
    limits: &Limits,
) -> Result<Value, Failure> {
    execute_code(&script.code, script.id, workflow_context, limits)
}

fn execute_code(
    code: &str,
    id: u64,
    workflow_context: &Value,
    limits: &Limits,
) -> Result<Value, Failure> {
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(Failure::new(
            "InvalidJavaScript",
            format!("the code is longer than {MAX_CODE_CHARS} characters"),
        ));
    }
    WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_some_and(|w| w.memory_mb != limits.memory_mb)
        {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(Worker::new(limits.memory_mb)?);
        }
        let worker = slot.as_mut().expect("just created");
        let result = run(worker, code, id, workflow_context, limits.timeout);
        if let Err(failure) = &result {
            // After running out of memory or time an engine may hold half-built state: start
            // the next script on a fresh one.
            if failure.code != "InvalidJavaScript" {
                *slot = None;
            }
        }
        result
    })
}

fn run(
    worker: &mut Worker,
    code: &str,
    id: u64,
    input: &Value,
    timeout: Duration,
) -> Result<Value, Failure> {
    let deadline = worker.epoch.elapsed() + timeout;
    worker.deadline.store(deadline.as_nanos() as u64, Relaxed);
    let Worker {
        context, compiled, ..
    } = worker;
    let result = context.with(|ctx| {
        let function = match compiled.get(&id) {
            Some(f) => f
                .clone()
                .restore(&ctx)
                .map_err(|e| engine_failure(&ctx, e))?,
            None => {
                let f = compile(&ctx, code)?;
                compiled.insert(id, Persistent::save(&ctx, f.clone()));
                f
            }
        };
        let argument = to_js(&ctx, input, 0)?;
        let returned: rquickjs::Value = function
            .call((argument,))
            .map_err(|e| script_failure(&ctx, e, timeout))?;
        from_js(&returned)
    });
    worker.deadline.store(0, Relaxed);
    let _ = &worker.runtime;
    result
}

/// The code as the body of `function (workflowContext)`, on the same first line so that line
/// numbers in errors are the code's own.
fn compile<'js>(ctx: &Ctx<'js>, code: &str) -> Result<Function<'js>, Failure> {
    let source = format!("(function (workflowContext) {{ {code}\n}})");
    let mut options = rquickjs::context::EvalOptions::default();
    options.strict = false;
    options.filename = Some("code.js".into());
    ctx.eval_with_options(source, options).map_err(|e| {
        let failure = script_failure(ctx, e, Duration::ZERO);
        Failure::new("InvalidJavaScript", failure.message)
    })
}

fn engine_failure(ctx: &Ctx<'_>, e: rquickjs::Error) -> Failure {
    script_failure(ctx, e, Duration::ZERO)
}

/// A thrown exception as a failure: its message and the line in the action's code.
fn script_failure(ctx: &Ctx<'_>, e: rquickjs::Error, timeout: Duration) -> Failure {
    if !matches!(e, rquickjs::Error::Exception) {
        return Failure::new("JavaScriptEngineFailed", e.to_string());
    }
    let thrown = ctx.catch();
    let Some(exception) = thrown.as_exception() else {
        return Failure::new(
            "JavaScriptError",
            format!("the script threw {}", describe_js(&thrown)),
        );
    };
    let message = exception.message().unwrap_or_default();
    if message.contains("interrupted") {
        return Failure::new(
            "ActionTimedOut",
            format!(
                "the script did not finish within {} s",
                timeout.as_secs_f64()
            ),
        );
    }
    if message.contains("out of memory") {
        return Failure::new("JavaScriptOutOfMemory", "the script ran out of memory");
    }
    let line = exception
        .stack()
        .as_deref()
        .and_then(|stack| stack.split("code.js:").nth(1))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        });
    let name: String = exception.get("name").unwrap_or_else(|_| "Error".into());
    Failure::new(
        "JavaScriptError",
        match line {
            Some(line) => format!("{name}: {message} (line {line})"),
            None => format!("{name}: {message}"),
        },
    )
}

fn describe_js(value: &rquickjs::Value<'_>) -> String {
    match from_js(value) {
        Ok(Value::String(s)) => format!("'{s}'"),
        Ok(other) => other.to_json_string(),
        Err(_) => "a value too large to show".into(),
    }
}

/// How deep a value crossing between Rust and JavaScript may nest: JSON's own depth limit
/// here. A cyclic object exceeds it too, so it fails the action rather than the stack.
pub const MAX_VALUE_DEPTH: usize = 128;
/// How many values (array items, properties) one result may hold: a script that builds a
/// shared subtree 2^40 times over fails the action instead of filling the memory.
pub const MAX_RESULT_VALUES: usize = 10_000_000;

fn too_deep(what: &str) -> Failure {
    Failure::new(
        "JavaScriptResultTooLarge",
        format!("the script's {what} nests deeper than {MAX_VALUE_DEPTH} levels (or is cyclic)"),
    )
}

fn to_js<'js>(
    ctx: &Ctx<'js>,
    value: &Value,
    depth: usize,
) -> Result<rquickjs::Value<'js>, Failure> {
    use rquickjs::IntoJs;
    if depth > MAX_VALUE_DEPTH {
        return Err(too_deep("workflowContext"));
    }
    let engine = |e| engine_failure(ctx, e);
    Ok(match value {
        Value::Null => rquickjs::Value::new_null(ctx.clone()),
        Value::Bool(b) => rquickjs::Value::new_bool(ctx.clone(), *b),
        Value::Integer(i) => match i32::try_from(*i) {
            Ok(small) => rquickjs::Value::new_int(ctx.clone(), small),
            Err(_) => rquickjs::Value::new_float(ctx.clone(), *i as f64),
        },
        Value::Float(f) => rquickjs::Value::new_float(ctx.clone(), *f),
        Value::String(s) => s.as_ref().into_js(ctx).map_err(engine)?,
        Value::Array(items) => {
            let array = Array::new(ctx.clone()).map_err(engine)?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, to_js(ctx, item, depth + 1)?).map_err(engine)?;
            }
            array.into_value()
        }
        Value::Object(map) => {
            let object = Object::new(ctx.clone()).map_err(engine)?;
            for (key, item) in map.iter() {
                object
                    .set(key.as_str(), to_js(ctx, item, depth + 1)?)
                    .map_err(engine)?;
            }
            object.into_value()
        }
        other => match other.as_f64() {
            Some(f) => rquickjs::Value::new_float(ctx.clone(), f),
            None => other.to_json_string().into_js(ctx).map_err(engine)?,
        },
    })
}

/// A JavaScript value as a workflow value: bounded in depth (cycles included) and in size.
fn from_js(value: &rquickjs::Value<'_>) -> Result<Value, Failure> {
    let mut budget = MAX_RESULT_VALUES;
    convert(value, 0, &mut budget)
}

fn convert(
    value: &rquickjs::Value<'_>,
    depth: usize,
    budget: &mut usize,
) -> Result<Value, Failure> {
    if depth > MAX_VALUE_DEPTH {
        return Err(too_deep("result"));
    }
    if *budget == 0 {
        return Err(Failure::new(
            "JavaScriptResultTooLarge",
            format!("the script's result holds more than {MAX_RESULT_VALUES} values"),
        ));
    }
    *budget -= 1;
    Ok(match value.type_of() {
        Type::Bool => Value::Bool(value.as_bool().unwrap_or_default()),
        Type::Int => Value::Integer(i64::from(value.as_int().unwrap_or_default())),
        Type::Float => {
            let f = value.as_float().unwrap_or_default();
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Value::Integer(f as i64)
            } else {
                Value::Float(f)
            }
        }
        Type::String => value
            .as_string()
            .and_then(|s| s.to_string().ok())
            .map(Value::from)
            .unwrap_or_default(),
        Type::Array => {
            let Some(array) = value.as_array() else {
                return Ok(Value::Null);
            };
            let mut items = Vec::with_capacity(array.len().min(1024));
            for item in array.iter::<rquickjs::Value>().flatten() {
                items.push(convert(&item, depth + 1, budget)?);
            }
            Value::array(items)
        }
        Type::Object | Type::Exception => {
            let Some(object) = value.as_object() else {
                return Ok(Value::Null);
            };
            let mut map = Map::default();
            for (key, item) in object.props::<String, rquickjs::Value>().flatten() {
                if !item.is_function() && !item.is_undefined() {
                    map.insert(key, convert(&item, depth + 1, budget)?);
                }
            }
            Value::object(map)
        }
        _ => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str, context: serde_json::Value) -> Result<Value, Failure> {
        let limits = Limits {
            timeout: Duration::from_millis(300),
            memory_mb: 16,
        };
        execute(&Script::new(code, &[]), &Value::from_json(context), &limits)
    }

    #[test]
    fn scripts_return_values_from_their_context() {
        let context = serde_json::json!({"actions": {"A": {"outputs": {"body": {"skus": [{"sku": "x"}, {"sku": "y"}]}}}}});
        let out = run(
            "var s = workflowContext.actions.A.outputs.body.skus;\nreturn s.map((el) => el.sku);",
            context,
        )
        .unwrap();
        assert_eq!(out.to_json(), serde_json::json!(["x", "y"]));
        let out = run(
            "return {n: 1.5, i: 2, big: 2**40, t: true, nothing: null, f: function(){}}",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(
            out.to_json(),
            serde_json::json!({"n": 1.5, "i": 2, "big": 1099511627776_i64, "t": true, "nothing": null})
        );
    }

    #[test]
    fn errors_name_the_line_and_limits_hold() {
        let err = run("var a = 1;\nvar b = 2;\nnull.boom;", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "JavaScriptError");
        assert!(
            err.message.contains("TypeError") && err.message.contains("(line 3)"),
            "{}",
            err.message
        );
        let err = run("throw new Error('bad input');", serde_json::json!({})).unwrap_err();
        assert_eq!(err.message, "Error: bad input (line 1)");
        let err = run("return (;", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "InvalidJavaScript");
        let err = run("while (true) {}", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "ActionTimedOut", "{}", err.message);
        let err = run(
            "var a = []; while (true) a.push(new Array(100000).fill(1));",
            serde_json::json!({}),
        )
        .unwrap_err();
        assert_eq!(err.code, "JavaScriptOutOfMemory", "{}", err.message);
        assert_eq!(
            run("return 1 + 1", serde_json::json!({})).unwrap(),
            Value::Integer(2),
            "a fresh engine after failures"
        );
    }

    #[test]
    fn the_sandbox_has_no_io() {
        for probe in [
            "return typeof require",
            "return typeof process",
            "return typeof std",
            "return typeof os",
            "return typeof fetch",
            "return typeof XMLHttpRequest",
        ] {
            assert_eq!(
                run(probe, serde_json::json!({})).unwrap(),
                Value::from("undefined"),
                "{probe}"
            );
        }
    }
}
