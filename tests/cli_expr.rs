//! `sluice expr` as a user runs it: the conformance cases through the real binary, and its
//! error output.

mod conformance;

use std::process::Command;

fn sluice_expr(expr: &str, context: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("expr").arg(expr);
    if let Some(c) = context {
        cmd.arg("--context").arg(c);
    }
    cmd.output().expect("sluice runs")
}

#[test]
fn conformance_cases_through_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("expr-contexts");
    std::fs::create_dir_all(&dir).unwrap();
    let results = conformance::cases()
        .into_iter()
        .map(|case| {
            let context = case.context.as_ref().map(|c| {
                let file = dir.join(format!("{}.json", case.id));
                std::fs::write(&file, c.to_string()).unwrap();
                file
            });
            let out = sluice_expr(&case.expr, context.as_deref());
            let outcome = if out.status.success() {
                serde_json::from_slice(&out.stdout).map_err(|e| format!("bad JSON on stdout: {e}"))
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            };
            let verdict = conformance::judge(&case, outcome);
            (case.id, verdict)
        })
        .collect();
    conformance::check(results);
}

#[test]
fn errors_name_the_function_and_the_argument() {
    let out = sluice_expr("@int(triggerBody()?['qty'])", None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sluice: `int()` expects a string or a number but got null from `triggerBody()?['qty']`\n"
    );
    let out = sluice_expr("@concat('a',, 'b')", None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sluice: syntax error: expected a value or a function call, found ',' at character 12 of the expression\n    concat('a',, 'b')\n               ^\n"
    );
}
