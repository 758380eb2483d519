//! The members of one WDL object that the reader looks for, found in one scan of its text.

use super::node::Node;
use crate::pointer::Pointer;

/// The members of an object whose keys the reader knows, and which of them it has read, so
/// that the rest can be reported as unknown.
pub(crate) struct Fields<'a> {
    node: Node<'a>,
    found: Vec<(&'static str, Node<'a>)>,
    taken: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// Scans `node` (an object) for the members named in `known`; when a key repeats, the
    /// last one counts, as JSON readers do.
    pub fn new(node: Node<'a>, known: Keys) -> Fields<'a> {
        let mut found: Vec<(&'static str, Node<'a>)> = Vec::new();
        node.members(|key, value| {
            if let Some(&name) = known
                .iter()
                .flat_map(|keys| keys.iter())
                .find(|k| **k == key)
            {
                match found.iter_mut().find(|(k, _)| *k == name) {
                    Some(slot) => slot.1 = value,
                    None => found.push((name, value)),
                }
            }
        });
        Fields {
            node,
            found,
            taken: Vec::new(),
        }
    }

    /// Takes the member `key`: it is read, so it is not reported as unknown.
    pub fn take(&mut self, key: &'static str) -> Option<Node<'a>> {
        self.taken.push(key);
        self.peek(key)
    }

    /// The member `key`, without taking it.
    pub fn peek(&self, key: &str) -> Option<Node<'a>> {
        self.found.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// Calls `f` with each key that was not taken, in file order.
    pub fn untaken(&self, mut f: impl FnMut(&str)) {
        self.node.members(|key, _| {
            if !self.taken.contains(&key) {
                f(key)
            }
        });
    }
}

/// Calls `f` with each `actions` object nested in an action (its own, `else`, `default`,
/// every case's), and the pointer of that object relative to the action.
pub(crate) fn for_each_branch<'a>(action: &Fields<'a>, mut f: impl FnMut(Pointer, Node<'a>)) {
    let here = Pointer::root();
    if let Some(actions) = action.peek("actions") {
        f(here.join("actions"), actions);
    }
    for key in ["else", "default"] {
        if let Some(actions) = action.peek(key).and_then(|b| b.get("actions")) {
            f(here.join(key).join("actions"), actions);
        }
    }
    if let Some(cases) = action.peek("cases") {
        cases.members(|name, case| {
            if let Some(actions) = case.get("actions") {
                f(here.join("cases").join(name).join("actions"), actions);
            }
        });
    }
}

/// The keys an object may have, as lists that several kinds of object share.
pub(crate) type Keys = &'static [&'static [&'static str]];

/// Keys of a `definition` object.
pub(crate) const DEFINITION: Keys = &[&[
    "$schema",
    "contentVersion",
    "parameters",
    "outputs",
    "staticResults",
    "triggers",
    "actions",
]];

/// Keys every action and trigger may carry.
const COMMON: &[&str] = &[
    "description",
    "metadata",
    "trackedProperties",
    "runtimeConfiguration",
    "operationOptions",
    "limit",
];

/// Keys of a trigger.
pub(crate) const TRIGGER: Keys = &[
    &[
        "type",
        "kind",
        "inputs",
        "recurrence",
        "conditions",
        "splitOn",
        "correlation",
    ],
    COMMON,
];

/// Keys of an action.
pub(crate) const ACTION: Keys = &[
    &[
        "type",
        "kind",
        "inputs",
        "runAfter",
        "actions",
        "else",
        "expression",
        "cases",
        "default",
        "foreach",
    ],
    COMMON,
];

/// Keys of a branch (`else`, `default`) and of a Switch case.
pub(crate) const BRANCH: Keys = &[&["actions", "case"]];
