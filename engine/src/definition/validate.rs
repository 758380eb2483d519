//! The rules a loaded workflow must satisfy before it can run, with Logic Apps' limits.
//!
//! Reading (see `reader`) already rejected what does not fit the model: unknown types, missing
//! required fields, malformed durations. What is checked here needs the whole workflow: names,
//! runAfter edges and cycles, where an action sits, and numeric limits.

use super::action::{Action, ActionBody};
use super::model::{Actions, CommonOptions, Dynamic, RetryPolicy, Trigger, Workflow};
use super::names::{ActionType, OperationOption, RetryType};
use super::problem::Problems;
use super::reader::Unreadable;
use crate::pointer::Pointer;
use std::collections::{HashMap, HashSet};

/// Logic Apps limits enforced at validation, from the service's published limits.
pub mod limits {
    /// Actions per workflow, at any depth.
    pub const MAX_ACTIONS: usize = 500;
    /// Containers an action may be nested in.
    pub const MAX_NESTING_DEPTH: usize = 8;
    /// Cases of one Switch.
    pub const MAX_SWITCH_CASES: usize = 25;
    /// `retryPolicy.count` range.
    pub const RETRY_COUNT: std::ops::RangeInclusive<i64> = 1..=90;
    /// Foreach `repetitions` range.
    pub const FOREACH_REPETITIONS: std::ops::RangeInclusive<i64> = 1..=50;
    /// Until `limit.count` range.
    pub const UNTIL_COUNT: std::ops::RangeInclusive<i64> = 1..=5000;
}

/// An action together with where it sits in the workflow.
struct Visit<'a, P> {
    action: &'a Action<P>,
    /// Number of containers around the action; 0 at the top level.
    depth: usize,
    parent: Option<&'a Action<P>>,
    /// The innermost Foreach or Until around the action.
    enclosing_loop: Option<&'a Action<P>>,
}

/// Checks `workflow`; `unreadable` names actions that failed to read (see `Reader`).
pub(crate) fn validate<P>(
    workflow: &Workflow<P>,
    unreadable: &Unreadable,
    problems: &mut Problems,
) {
    check_triggers(workflow, problems);
    let top = workflow.definition_pointer.join("actions");
    let mut visits = Vec::new();
    let mut branches = vec![(top, &workflow.definition.actions)];
    collect(
        &workflow.definition.actions,
        0,
        None,
        None,
        &mut visits,
        &mut branches,
    );

    let names = check_names(&visits, problems);
    for visit in &visits {
        check_placement(visit, problems);
        check_action(visit.action, problems);
    }
    for (pointer, actions) in &branches {
        check_run_after(pointer, actions, &names, unreadable, problems);
        check_cycles(actions, problems);
    }
}

fn collect<'a, P>(
    actions: &'a Actions<P>,
    depth: usize,
    parent: Option<&'a Action<P>>,
    enclosing_loop: Option<&'a Action<P>>,
    visits: &mut Vec<Visit<'a, P>>,
    branches: &mut Vec<(Pointer, &'a Actions<P>)>,
) {
    for action in actions.values() {
        visits.push(Visit {
            action,
            depth,
            parent,
            enclosing_loop,
        });
        let inner_loop = if action.action_type.is_loop() {
            Some(action)
        } else {
            enclosing_loop
        };
        for branch in action.branches() {
            branches.push((branch.pointer, branch.actions));
            collect(
                branch.actions,
                depth + 1,
                Some(action),
                inner_loop,
                visits,
                branches,
            );
        }
    }
}

/// The reader keeps one trigger at most, and reports any other.
fn check_triggers<P>(workflow: &Workflow<P>, problems: &mut Problems) {
    for trigger in workflow.definition.triggers.values() {
        check_trigger(trigger, problems);
    }
}

fn check_trigger<P>(trigger: &Trigger<P>, problems: &mut Problems) {
    let at = &trigger.pointer;
    if let Some(r) = trigger.recurrence.as_ref().filter(|r| r.interval < 1) {
        problems.error(
            &at.join("recurrence").join("interval"),
            format!(
                "recurrence interval must be at least 1, found {}",
                r.interval
            ),
        );
    }
    if let Some(c) = &trigger.options.runtime_configuration.concurrency {
        let at = at.join("runtimeConfiguration").join("concurrency");
        if let Some(runs) = c.runs.filter(|r| *r < 1) {
            problems.error(
                &at.join("runs"),
                format!("concurrency runs must be at least 1, found {runs}"),
            );
        }
        if let Some(waiting) = c.maximum_waiting_runs.filter(|w| *w < 0) {
            problems.error(
                &at.join("maximumWaitingRuns"),
                format!("maximumWaitingRuns must not be negative, found {waiting}"),
            );
        }
    }
}

/// Action names are unique across the workflow, ignoring case. Returns lower-case name → pointer.
fn check_names<'a, P>(
    visits: &[Visit<'a, P>],
    problems: &mut Problems,
) -> HashMap<String, &'a Pointer> {
    let mut names: HashMap<String, &Pointer> = HashMap::with_capacity(visits.len());
    for visit in visits {
        let action = visit.action;
        if let Some(first) = names.get(&action.name.to_lowercase()) {
            problems.error(
                &action.pointer,
                format!(
                    "duplicate action name '{}': names must be unique across the workflow, ignoring case (first defined at {first})",
                    action.name
                ),
            );
        } else {
            names.insert(action.name.to_lowercase(), &action.pointer);
        }
    }
    names
}

fn check_placement<P>(visit: &Visit<'_, P>, problems: &mut Problems) {
    let action = visit.action;
    if visit.depth > limits::MAX_NESTING_DEPTH {
        problems.error(
            &action.pointer,
            format!(
                "'{}' is nested in {} containers; Logic Apps allows at most {}",
                action.name,
                visit.depth,
                limits::MAX_NESTING_DEPTH
            ),
        );
    }
    if let (ActionType::InitializeVariable, Some(parent)) = (action.action_type, visit.parent) {
        problems.error(
            &action.pointer,
            format!(
                "InitializeVariable must be at the top level of the workflow, not inside '{}'",
                parent.name
            ),
        );
    }
    if let (ActionType::Response | ActionType::Terminate, Some(lp)) =
        (action.action_type, visit.enclosing_loop)
    {
        problems.error(
            &action.pointer,
            format!(
                "a {} action cannot be inside a loop; '{}' is inside the {} '{}'",
                action.action_type, action.name, lp.action_type, lp.name
            ),
        );
    }
}

fn check_action<P>(action: &Action<P>, problems: &mut Problems) {
    let at = &action.pointer;
    check_concurrency(action, problems);
    if let Some(policy) = &action.retry_policy {
        check_retry(policy, &at.join("inputs").join("retryPolicy"), problems);
    }
    match &action.body {
        ActionBody::Switch { cases, .. } => {
            let mut seen = HashSet::new();
            for case in cases.values() {
                if !seen.insert(case.case.to_string()) {
                    problems.error(
                        &case.pointer.join("case"),
                        format!("duplicate Switch case value {}", case.case),
                    );
                }
            }
        }
        ActionBody::Until { .. } => {
            let count = action
                .options
                .limit
                .count
                .as_ref()
                .and_then(|c| c.literal());
            if let Some(count) = count.filter(|c| !limits::UNTIL_COUNT.contains(c)) {
                problems.error(
                    &at.join("limit").join("count"),
                    format!("Until limit count must be between 1 and 5000, found {count}"),
                );
            }
        }
        ActionBody::InitializeVariable(inputs) if inputs.variables.is_empty() => problems.error(
            &at.join("inputs").join("variables"),
            "InitializeVariable declares no variable",
        ),
        ActionBody::SetVariable(v)
        | ActionBody::AppendToArrayVariable(v)
        | ActionBody::AppendToStringVariable(v)
            if v.value.is_none() =>
        {
            problems.error(
                &at.join("inputs"),
                format!("{} needs `value`", action.action_type),
            );
        }
        ActionBody::Wait(w) if w.interval.is_some() == w.until.is_some() => problems.error(
            &at.join("inputs"),
            "Wait needs exactly one of `interval` and `until`",
        ),
        _ => {}
    }
}

fn check_concurrency<P>(action: &Action<P>, problems: &mut Problems) {
    let options: &CommonOptions<P> = &action.options;
    let Some(repetitions) = options
        .runtime_configuration
        .concurrency
        .as_ref()
        .and_then(|c| c.repetitions)
    else {
        return;
    };
    let at = action
        .pointer
        .join("runtimeConfiguration")
        .join("concurrency")
        .join("repetitions");
    if options.has_option(OperationOption::Sequential) {
        problems.error(
            &at,
            "`repetitions` cannot be set together with the `Sequential` operation option; use one or the other",
        );
    }
    if action.action_type == ActionType::Foreach
        && !limits::FOREACH_REPETITIONS.contains(&repetitions)
    {
        problems.error(
            &at,
            format!("Foreach repetitions must be between 1 and 50, found {repetitions}"),
        );
    }
}

fn check_retry(policy: &RetryPolicy, at: &Pointer, problems: &mut Problems) {
    if !matches!(policy.retry_type, RetryType::Fixed | RetryType::Exponential) {
        return;
    }
    match policy.count.as_ref().and_then(Dynamic::literal) {
        Some(count) if !limits::RETRY_COUNT.contains(count) => problems.error(
            &at.join("count"),
            format!("retry count must be between 1 and 90, found {count}"),
        ),
        _ => {}
    }
    if policy.interval.is_none() {
        problems.error(
            at,
            format!("a {} retry policy needs `interval`", policy.retry_type),
        );
    }
    let min = policy.minimum_interval.as_ref().and_then(Dynamic::literal);
    let max = policy.maximum_interval.as_ref().and_then(Dynamic::literal);
    if let (Some(min), Some(max)) = (min, max) {
        if min.as_duration() > max.as_duration() {
            problems.error(
                &at.join("minimumInterval"),
                format!("minimumInterval {min} is longer than maximumInterval {max}"),
            );
        }
    }
}

/// Every runAfter entry must name a sibling: an action of the same container.
fn check_run_after<P>(
    branch: &Pointer,
    actions: &Actions<P>,
    names: &HashMap<String, &Pointer>,
    unreadable: &Unreadable,
    problems: &mut Problems,
) {
    let siblings: HashSet<String> = actions.keys().map(|k| k.to_lowercase()).collect();
    for action in actions.values() {
        for target in action.run_after.keys() {
            let key = target.to_lowercase();
            if siblings.contains(&key) || unreadable.contains(branch, &key) {
                continue;
            }
            let at = action.pointer.join("runAfter").join(target);
            let message = match names.get(&key) {
                Some(elsewhere) => format!(
                    "runAfter names '{target}', which is in another container ({elsewhere}); an action can only run after actions of its own container"
                ),
                None => format!("runAfter names '{target}', which is not an action of this workflow"),
            };
            problems.error(&at, message);
        }
    }
}

/// Reports each runAfter cycle among the siblings of one container once.
fn check_cycles<P>(actions: &Actions<P>, problems: &mut Problems) {
    let index: HashMap<String, usize> = actions
        .keys()
        .enumerate()
        .map(|(i, k)| (k.to_lowercase(), i))
        .collect();
    let edges: Vec<Vec<usize>> = actions
        .values()
        .map(|a| {
            a.run_after
                .keys()
                .filter_map(|t| index.get(&t.to_lowercase()).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; edges.len()];
    let mut path = Vec::new();
    for start in 0..edges.len() {
        find_cycles(start, &edges, &mut state, &mut path, actions, problems);
    }
}

/// Depth-first search from `node` with an explicit stack (a file may chain thousands of
/// actions by runAfter; recursion would exhaust the stack). `path` is the current chain;
/// `state` is 0 unvisited, 1 on the path, 2 done.
fn find_cycles<P>(
    node: usize,
    edges: &[Vec<usize>],
    state: &mut [u8],
    path: &mut Vec<usize>,
    actions: &Actions<P>,
    problems: &mut Problems,
) {
    if state[node] != 0 {
        return;
    }
    // (node, index of the next edge to follow)
    let mut stack = vec![(node, 0usize)];
    state[node] = 1;
    path.push(node);
    while let Some(top) = stack.last_mut() {
        let (current, edge) = *top;
        match edges[current].get(edge) {
            Some(&next) => {
                top.1 += 1;
                match state[next] {
                    1 => report_cycle(next, path, actions, problems),
                    0 => {
                        state[next] = 1;
                        path.push(next);
                        stack.push((next, 0));
                    }
                    _ => {}
                }
            }
            None => {
                stack.pop();
                path.pop();
                state[current] = 2;
            }
        }
    }
}

fn report_cycle<P>(start: usize, path: &[usize], actions: &Actions<P>, problems: &mut Problems) {
    let from = path.iter().position(|&n| n == start).unwrap_or(0);
    let name = |i: usize| actions.get_index(i).map(|(k, _)| k.as_str()).unwrap_or("?");
    let mut chain: Vec<&str> = path[from..].iter().map(|&i| name(i)).collect();
    chain.push(name(start));
    let last = actions
        .get_index(*path.last().unwrap_or(&start))
        .map(|(_, a)| a);
    let at = match last {
        Some(a) => a.pointer.join("runAfter").join(name(start)),
        None => Pointer::root(),
    };
    let message = if chain.len() == 2 {
        format!("'{}' runs after itself", chain[0])
    } else {
        format!(
            "runAfter cycle: {} (each action runs after the next)",
            chain.join(" → ")
        )
    };
    problems.error(&at, message);
}
