//! The steps that wait or repeat: Foreach, Until, Wait, and handler actions with retries and
//! timeouts.

use crate::definition::names::Frequency;
use crate::definition::{ActionType, RunStatus};
use crate::expr::eval::describe;
use crate::expr::functions::datetime_format;
use crate::expr::{Template, Value};
use crate::record::ActionRecord;
use crate::runtime::builtin::Failure;
use crate::runtime::execution::executor::{
    call, container_status, interval, retry_record, Executor,
};
use crate::runtime::plan::{Container, Step};
use crate::runtime::run::Frame;
use chrono::Utc;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl Executor<'_> {
    pub(super) async fn foreach(
        &self,
        step: &Step,
        items: &Template,
        body: &Container,
        concurrency: usize,
        frame: &Frame<'_>,
        record: &mut ActionRecord,
    ) -> Result<RunStatus, Failure> {
        let items = match items.evaluate(&self.scope(frame)) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(Failure::new(
                    "InvalidTemplate",
                    format!("Foreach needs an array but got {}", describe(&other)),
                ))
            }
            Err(e) => return Err(Failure::new("InvalidTemplate", e.message)),
        };
        record.inputs = Value::Array(items.clone());
        let mut iterations: Vec<Option<(Vec<Arc<ActionRecord>>, RunStatus)>> =
            (0..items.len()).map(|_| None).collect();
        let mut pending = FuturesUnordered::new();
        let mut next = 0;
        let mut last_frame = None;
        loop {
            while next < items.len()
                && pending.len() < concurrency.max(1)
                && !self.run.is_terminated()
            {
                let index = next;
                let item = items[index].clone();
                pending.push(async move {
                    let iteration = Frame::iteration(frame, step.name.clone(), item, index as i64);
                    let records = self.container(body, &iteration).await;
                    let status = container_status(body, &records);
                    (index, records, status, iteration)
                });
                next += 1;
            }
            let Some((index, records, status, iteration)) = pending.next().await else {
                break;
            };
            if last_frame.as_ref().is_none_or(|(i, _)| index >= *i) {
                last_frame = Some((index, iteration));
            }
            iterations[index] = Some((records.into_iter().flatten().collect(), status));
        }
        if let Some((_, iteration)) = last_frame {
            iteration.publish_to_parent();
        }
        let mut status = RunStatus::Succeeded;
        for (index, (records, s)) in iterations.into_iter().flatten().enumerate() {
            if s == RunStatus::Failed || (s == RunStatus::TimedOut && status != RunStatus::Failed) {
                status = s;
            }
            record
                .actions
                .extend(records.into_iter().map(|r| in_iteration(r, index as i64)));
        }
        frame.set_result(step.name.clone(), record.actions.clone().into());
        Ok(status)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn until(
        &self,
        step: &Step,
        condition: &Template,
        body: &Container,
        count: &Template,
        timeout: Duration,
        frame: &Frame<'_>,
        record: &mut ActionRecord,
    ) -> Result<RunStatus, Failure> {
        let limit = match count.evaluate(&self.scope(frame)) {
            Ok(Value::Integer(n)) => n,
            Ok(other) => {
                return Err(Failure::new(
                    "InvalidTemplate",
                    format!(
                        "Until limit count must be an integer, not {}",
                        describe(&other)
                    ),
                ))
            }
            Err(e) => return Err(Failure::new("InvalidTemplate", e.message)),
        };
        let started = Instant::now();
        let mut status = RunStatus::Succeeded;
        let mut index = 0;
        while index < limit && !self.run.is_terminated() {
            if started.elapsed() >= timeout {
                status = RunStatus::TimedOut;
                break;
            }
            let iteration = Frame::iteration(frame, step.name.clone(), Value::Null, index);
            let records = self.container(body, &iteration).await;
            let body_status = container_status(body, &records);
            record.actions.extend(
                records
                    .into_iter()
                    .flatten()
                    .map(|r| in_iteration(r, index)),
            );
            let done = self.truth(condition, &iteration);
            iteration.publish_to_parent();
            index += 1;
            if body_status == RunStatus::Failed {
                status = RunStatus::Failed;
                break;
            }
            if done? {
                break;
            }
        }
        frame.set_result(step.name.clone(), record.actions.clone().into());
        if status == RunStatus::TimedOut {
            return Err(Failure::new(
                "ActionTimedOut",
                format!(
                    "the Until loop '{}' ran longer than its limit timeout",
                    step.name
                ),
            ));
        }
        Ok(status)
    }

    pub(super) async fn wait(
        &self,
        every: Option<&(Template, Frequency)>,
        until: Option<&Template>,
        frame: &Frame<'_>,
    ) -> Result<RunStatus, Failure> {
        let scope = self.scope(frame);
        let eval = |t: &Template| {
            t.evaluate(&scope)
                .map_err(|e| Failure::new("InvalidTemplate", e.message))
        };
        let duration = match (every, until) {
            (Some((count, unit)), _) => match eval(count)? {
                Value::Integer(n) => interval(n, *unit),
                other => {
                    return Err(Failure::new(
                        "InvalidTemplate",
                        format!("Wait count must be an integer, not {}", describe(&other)),
                    ))
                }
            },
            (None, Some(timestamp)) => {
                let text = crate::expr::functions::to_text(&eval(timestamp)?);
                let at = datetime_format::parse(&text)
                    .map_err(|e| Failure::new("InvalidTemplate", e))?;
                (at.instant() - Utc::now()).to_std().unwrap_or_default()
            }
            (None, None) => Duration::ZERO,
        };
        tokio::time::sleep(duration).await;
        Ok(RunStatus::Succeeded)
    }

    /// Runs a connector action through its handler, with the retry policy and `limit.timeout`.
    pub(super) async fn handler(
        &self,
        step: &Step,
        frame: &Frame<'_>,
        record: &mut ActionRecord,
    ) -> Result<RunStatus, Failure> {
        let key = format!("{}/{}{}", self.run.id, frame.path, step.name);
        let scope = crate::runtime::run::RunContext {
            callback: (step.action_type == ActionType::HttpWebhook).then_some(key.as_str()),
            ..self.scope(frame)
        };
        let inputs = step
            .inputs
            .evaluate(&scope)
            .map_err(|e| Failure::new("InvalidTemplate", e.message))?;
        record.inputs = inputs.clone();
        let Some(handler) = self.env.handlers.get(step.action_type) else {
            return Err(Failure::new(
                "NoHandler",
                format!(
                    "no handler for action type '{}': its connector is not available in this build; mock '{}' to run this workflow",
                    step.action_type, step.name
                ),
            ));
        };
        let attempts = async {
            let mut retry = 0;
            loop {
                let start = Utc::now();
                match handler
                    .execute(call(self.run, step, inputs.clone(), &key))
                    .await
                {
                    Ok(outputs) => return Ok(outputs),
                    Err(f) => {
                        let failure = Failure::new(&f.code, f.message.clone());
                        let delay = if f.retryable {
                            step.retry.delay(retry + 1, f.retry_after)
                        } else {
                            None
                        };
                        match delay {
                            Some(d) => {
                                record.retries.push(retry_record(start, &failure));
                                self.env.metrics.retries.increment(1);
                                tokio::time::sleep(d).await;
                                retry += 1;
                            }
                            None => return Err((failure, f.outputs)),
                        }
                    }
                }
            }
        };
        let result = match step.timeout {
            Some(limit) => match tokio::time::timeout(limit, attempts).await {
                Ok(r) => r,
                Err(_) => Err((
                    Failure::new(
                        "ActionTimedOut",
                        format!(
                            "the action '{}' did not finish within its limit timeout",
                            step.name
                        ),
                    ),
                    None,
                )),
            },
            None => attempts.await,
        };
        match result {
            Ok(outputs) => {
                record.outputs = outputs;
                Ok(RunStatus::Succeeded)
            }
            Err((failure, outputs)) => {
                record.outputs = outputs.unwrap_or_default();
                Err(failure)
            }
        }
    }
}

fn in_iteration(mut record: Arc<ActionRecord>, index: i64) -> Arc<ActionRecord> {
    Arc::make_mut(&mut record).iteration = Some(index);
    record
}
