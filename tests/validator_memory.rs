//! `sluice validate` reads files from anyone: its memory must stay proportional to the file,
//! whatever the file's shape. Each case writes a file of about 1 MiB shaped to be as costly as
//! possible to read (dense tiny values, deep arrays, thousands of expressions, actions, keys or
//! problems) and checks the peak heap while validating it stays under a small multiple of the
//! file's size. The file's own text counts towards the peak.
//!
//! A counting allocator measures the heap, so this file holds one test: tests in one binary
//! run on several threads, and their allocations would mix.

use sluice_engine::definition::{check_workflow_file, Purpose};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest peak heap allowed, as a multiple of the file's size.
const MAX_RATIO: f64 = 4.0;

/// About how large each hostile file is.
const SIZE: usize = 1 << 20;

/// A workflow whose only action is a Compose with `inputs` as given.
fn compose(inputs: &str) -> String {
    format!(
        r#"{{"definition":{{"triggers":{{"manual":{{"type":"Request","kind":"Http"}}}},
        "actions":{{"Big":{{"type":"Compose","inputs":{inputs},"runAfter":{{}}}}}}}},"kind":"Stateful"}}"#
    )
}

/// A workflow whose `actions` object is `actions`.
fn with_actions(actions: &str) -> String {
    format!(
        r#"{{"definition":{{"triggers":{{"manual":{{"type":"Request","kind":"Http"}}}},
        "actions":{{{actions}}}}},"kind":"Stateful"}}"#
    )
}

/// `item(i)` repeated, comma-separated, until about SIZE bytes.
fn repeat(item: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(SIZE + 64);
    let mut i = 0;
    while out.len() < SIZE {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item(i));
        i += 1;
    }
    out
}

fn cases() -> Vec<(&'static str, String)> {
    let action = |i: usize| format!(r#""a{i}":{{"type":"Compose","inputs":0}}"#);
    vec![
        ("zeros", compose(&format!("[{}]", repeat(|_| "0".into())))),
        (
            "nested arrays",
            compose(&format!("[{}]", repeat(|_| "[[[[0]]]]".into()))),
        ),
        (
            "expressions",
            compose(&format!("[{}]", repeat(|_| r#""@add(1,2)""#.into()))),
        ),
        (
            "interpolations",
            compose(&format!("[{}]", repeat(|_| r#""x@{1}y""#.into()))),
        ),
        (
            "bad expressions",
            compose(&format!("[{}]", repeat(|_| r#""@f(""#.into()))),
        ),
        (
            "action references",
            compose(&format!("[{}]", repeat(|i| format!(r#""@body('n{i}')""#)))),
        ),
        (
            "tiny members",
            compose(&format!("{{{}}}", repeat(|i| format!(r#""{i}":0"#)))),
        ),
        ("many actions", with_actions(&repeat(action))),
        (
            "unreadable actions",
            with_actions(&repeat(|i| format!(r#""a{i}":{{}}"#))),
        ),
        (
            "unknown fields",
            with_actions(&format!(
                r#""A":{{"type":"Compose","inputs":0,{}}}"#,
                repeat(|i| format!(r#""k{i}":0"#))
            )),
        ),
        (
            "runAfter entries",
            with_actions(&format!(
                r#""A":{{"type":"Compose","inputs":0,"runAfter":{{{}}}}}"#,
                repeat(|i| format!(r#""n{i}":[]"#))
            )),
        ),
        (
            "variables",
            with_actions(&format!(
                r#""Init":{{"type":"InitializeVariable","inputs":{{"variables":[{}]}}}}"#,
                repeat(|i| format!(r#"{{"name":"v{i}","type":"integer"}}"#))
            )),
        ),
        (
            "dependencies",
            with_actions(&format!(
                r#""Code":{{"type":"JavaScriptCode","inputs":{{"code":"1","explicitDependencies":{{"actions":[{}]}}}}}}"#,
                repeat(|i| format!(r#""{i}""#))
            )),
        ),
        (
            "condition",
            with_actions(&format!(
                r#""If":{{"type":"If","expression":{{"and":[{}]}}}}"#,
                repeat(|_| r#"{"equals":[1,1]}"#.into())
            )),
        ),
        (
            "switch cases",
            with_actions(&format!(
                r#""S":{{"type":"Switch","expression":"@1","cases":{{{}}}}}"#,
                repeat(|i| format!(r#""c{i}":{{"case":{i}}}"#))
            )),
        ),
        (
            "retry count",
            with_actions(&format!(
                r#""H":{{"type":"Http","inputs":{{"method":"GET","uri":"http://x","retryPolicy":{{"type":"fixed","interval":"PT1S","count":[{}]}}}}}}"#,
                repeat(|_| "0".into())
            )),
        ),
        (
            "triggers",
            format!(
                r#"{{"definition":{{"triggers":{{{}}},"actions":{{}}}}}}"#,
                repeat(|i| format!(r#""t{i}":{{"type":"Request","kind":"Http"}}"#))
            ),
        ),
        (
            "parameters",
            format!(
                r#"{{"definition":{{"parameters":{{{}}},"triggers":{{}},"actions":{{}}}}}}"#,
                repeat(|i| format!(r#""p{i}":{{"type":"Int"}}"#))
            ),
        ),
    ]
}

#[test]
fn validating_a_file_takes_memory_proportional_to_its_size() {
    let dir = std::env::temp_dir().join(format!("sluice-validator-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = String::new();
    let mut worst = 0.0f64;
    for (name, text) in cases() {
        let file = dir.join("workflow.json");
        std::fs::write(&file, &text).unwrap();
        let size = text.len();
        drop(text);
        let before = CURRENT.load(Relaxed);
        PEAK.store(before, Relaxed);
        let checked = check_workflow_file(&file, "hostile", Purpose::Validate);
        let peak = PEAK.load(Relaxed) - before;
        let problems = checked.problems.len();
        drop(checked);
        let ratio = peak as f64 / size as f64;
        worst = worst.max(ratio);
        writeln!(
            report,
            "{name:>20}: {size} bytes, peak {peak} bytes ({ratio:.1}×), {problems} problems"
        )
        .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{report}");
    assert!(
        worst <= MAX_RATIO,
        "validating took more than {MAX_RATIO}× the file's size:\n{report}"
    );
}
