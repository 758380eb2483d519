//! Semantics beyond the documented examples of the conformance suite: number types, null
//! handling, laziness, time zone forms, cultures and XML round trips.

use crate::expr::{JsonContext, Template, Value};
use serde_json::json;

fn context() -> JsonContext {
    JsonContext::new(Value::from_json(json!({
        "triggerBody": {"qty": null, "items": [3, 1, 2], "name": "Ada"},
        "variables": {"n": 7}
    })))
}

fn eval(text: &str) -> Result<serde_json::Value, String> {
    let template = Template::compile_str(text).map_err(|e| e.message)?;
    template
        .evaluate(&context())
        .map(|v| v.to_json())
        .map_err(|e| e.message)
}

#[track_caller]
fn check(cases: &[(&str, serde_json::Value)]) {
    for (text, expected) in cases {
        assert_eq!(eval(text).as_ref(), Ok(expected), "{text}");
    }
}

#[test]
fn integer_float_and_decimal_arithmetic() {
    check(&[
        ("@div(11, 5)", json!(2)),
        ("@div(11, 5.0)", json!(2.2)),
        ("@add(1, 1.5)", json!(2.5)),
        ("@mod(-7, 3)", json!(-1)),
        ("@mul(2, 3)", json!(6)),
        ("@pow(2, 10)", json!(1024)),
        ("@pow(2, -1)", json!(0.5)),
        ("@string(add(decimal('0.1'), decimal('0.2')))", json!("0.3")),
        ("@string(div(10, 4.0))", json!("2.5")),
        ("@max(1, 2.5, 2)", json!(2.5)),
    ]);
    assert_eq!(
        eval("@add(9223372036854775807, 1)"),
        Err("`add()`: the result of add overflows".into())
    );
    assert_eq!(
        eval("@div(1, 0)"),
        Err("`div()`: cannot divide by zero".into())
    );
}

#[test]
fn null_compares_as_empty_string_and_orders_are_typed() {
    check(&[
        ("@equals(triggerBody()?['qty'], '')", json!(true)),
        ("@equals(1, 1.0)", json!(true)),
        ("@less('B', 'a')", json!(true)),
        ("@greater(triggerBody()?['missing'], '')", json!(false)),
        ("@equals(createArray(1, 2), json('[1, 2.0]'))", json!(true)),
    ]);
    assert!(eval("@greater(true, false)")
        .unwrap_err()
        .starts_with("`greater()`: cannot order the boolean true"));
}

#[test]
fn lazy_functions_skip_what_they_do_not_need() {
    check(&[
        ("@if(true, 'yes', div(1, 0))", json!("yes")),
        ("@and(false, equals(div(1, 0), 1))", json!(false)),
        ("@or(true, equals(div(1, 0), 1))", json!(true)),
        ("@coalesce(null, 'x', div(1, 0))", json!("x")),
    ]);
    assert_eq!(
        eval("@and(true, 'yes')"),
        Err("`and()` expects a boolean but got the string 'yes' from `'yes'`".into())
    );
}

#[test]
fn argument_errors_name_function_argument_and_value() {
    assert_eq!(
        eval("@int(triggerBody()?['qty'])"),
        Err(
            "`int()` expects a string or a number but got null from `triggerBody()?['qty']`".into()
        )
    );
    assert_eq!(
        eval("@length(variables('n'))"),
        Err(
            "`length()` expects a string or an array but got the integer 7 from `variables('n')`"
                .into()
        )
    );
    assert_eq!(
        eval("@triggerBody()['nope']"),
        Err("property 'nope' doesn't exist in `triggerBody()`; available properties: qty, items, name. Use ?['nope'] to get null instead".into())
    );
    assert_eq!(
        eval("@variables('missing')"),
        Err("`variables()`: the variable 'missing' is not initialized; add an InitializeVariable action".into())
    );
}

#[test]
fn timestamps_keep_their_zone_form() {
    check(&[
        (
            "@addHours('2018-03-15T10:00:00+02:00', 1)",
            json!("2018-03-15T11:00:00.0000000+02:00"),
        ),
        (
            "@addDays('2018-03-15T10:00:00', 1)",
            json!("2018-03-16T10:00:00.0000000"),
        ),
        (
            "@formatDateTime('2018-03-15T10:00:00+02:00', 'u')",
            json!("2018-03-15 08:00:00Z"),
        ),
        (
            "@convertTimeZone('2018-07-01T12:00:00Z', 'UTC', 'W. Europe Standard Time')",
            json!("2018-07-01T14:00:00.0000000"),
        ),
        (
            "@convertToUtc('2018-01-01T09:00:00', 'Tokyo Standard Time')",
            json!("2018-01-01T00:00:00.0000000Z"),
        ),
        (
            "@addToTime('2018-01-31T00:00:00Z', 1, 'Month')",
            json!("2018-02-28T00:00:00.0000000Z"),
        ),
        (
            "@formatDateTime('2018-03-15T13:27:36.1234567Z', 'yyyy-MM-dd hh:mm:ss.fff tt')",
            json!("2018-03-15 01:27:36.123 PM"),
        ),
        (
            "@formatDateTime('2018-03-15T13:27:36Z', 'r')",
            json!("Thu, 15 Mar 2018 13:27:36 GMT"),
        ),
        (
            "@ticks('2018-03-15T00:00:00+01:00')",
            json!(636566652000000000_i64),
        ),
    ]);
    assert!(
        eval("@convertFromUtc('2018-01-01T00:00:00Z', 'Mars Standard Time')")
            .unwrap_err()
            .contains("is not a time zone")
    );
}

#[test]
fn cultures_for_numbers_and_dates() {
    check(&[
        ("@formatNumber(1234.5, 'N2', 'de-DE')", json!("1.234,50")),
        ("@formatNumber(1234.5, 'C', 'en-US')", json!("$1,234.50")),
        ("@formatNumber(0.125, 'P1')", json!("12.5%")),
        ("@formatNumber(2.5, '0')", json!("3")),
        ("@formatNumber(42, 'D5')", json!("00042")),
        ("@formatNumber(255, 'X')", json!("FF")),
        (
            "@formatDateTime('2018-03-15T13:27:36Z', 'D', 'de-DE')",
            json!("Donnerstag, 15. März 2018"),
        ),
        (
            "@parseDateTime('15.03.2018', 'de-DE')",
            json!("2018-03-15T00:00:00.0000000"),
        ),
        ("@float('1.234,5', 'de-DE')", json!(1234.5)),
    ]);
    assert!(
        eval("@formatNumber(0001000002100060739126232080378, '0,0.0ur %us')")
            .unwrap_err()
            .contains("too large to format as a percentage")
    );
    assert!(
        eval("@formatNumber(decimal('79228162514264337593543950335'), 'P')")
            .unwrap_err()
            .contains("too large")
    );
    assert!(eval("@parseDateTime('201921', 'fr-fr', 'yysMtyMyrid(d(d')").is_err());
    assert_eq!(
        eval(&format!("@formatNumber(17, '0.{}%')", "0".repeat(30))).unwrap(),
        json!(format!("1700.{}%", "0".repeat(30)))
    );
    let many = format!("@formatNumber(17, '0.{}')", "0".repeat(40));
    assert_eq!(
        eval(&many).unwrap(),
        json!(format!("17.{}", "0".repeat(40)))
    );
    assert!(eval("@formatNumber(1, 'N', 'xx-XX')")
        .unwrap_err()
        .contains("locale 'xx-XX' is not supported"));
}

#[test]
fn xml_round_trips_and_xpath() {
    check(&[
        (
            "@json(xml(json('{\"a\": {\"@id\": \"1\", \"b\": [\"x\", \"y\"]}}')))",
            json!({"a": {"@id": "1", "b": ["x", "y"]}}),
        ),
        (
            "@xpath(xml('<a><b>1</b><b>2</b></a>'), 'sum(/a/b)')",
            json!(3.0),
        ),
        (
            "@xpath(xml('<a><b>1</b></a>'), '/a/b')",
            json!(["<b>1</b>"]),
        ),
        ("@xpath(xml('<a x=\"7\"/>'), '/a/@x')", json!(["7"])),
    ]);
    assert!(eval("@xml('<a>')")
        .unwrap_err()
        .contains("is not well-formed XML"));
    assert!(eval("@xml(json('{\"a\": 1, \"b\": 2}'))")
        .unwrap_err()
        .contains("exactly one root property"));
    assert!(eval("@xpath(xml('<name>S</name>'), 'stri:neer</oi')")
        .unwrap_err()
        .contains("namespace prefix 'stri'"));
    check(&[(
        "@xpath(xml('<a><b>1</b></a>'), 'count(child::a/child::b[. = \"x:y\"])')",
        json!(0.0),
    )]);
    let deep = format!("@xml('{}{}')", "<a>".repeat(300), "</a>".repeat(300));
    assert!(eval(&deep).unwrap_err().contains("nests deeper than 256"));
}

#[test]
fn collections_and_strings() {
    check(&[
        ("@sort(triggerBody()?['items'])", json!([1, 2, 3])),
        ("@take(reverse(triggerBody()?['items']), 2)", json!([2, 1])),
        (
            "@intersection(json('{\"a\": 1, \"b\": 2}'), json('{\"a\": 1, \"b\": 3}'))",
            json!({"a": 1}),
        ),
        ("@nthIndexOf('abcabcabc', 'ABC', -1)", json!(6)),
        ("@substring('héllo', 1, 3)", json!("éll")),
        ("@string(true)", json!("True")),
        (
            "@string(json('{\"a\": [1, null]}'))",
            json!("{\"a\":[1,null]}"),
        ),
        (
            "@concat('n=', variables('n'), ', ok=', true)",
            json!("n=7, ok=True"),
        ),
        ("@join(createArray(1, null, 'x'), '|')", json!("1||x")),
        ("@split('a,,b', ',')", json!(["a", "", "b"])),
        (
            "@uriComponent('a/b c?d=é')",
            json!("a%2Fb%20c%3Fd%3D%C3%A9"),
        ),
        ("@base64ToString(base64('héllo'))", json!("héllo")),
    ]);
    assert!(eval("@substring('abc', 2, 5)")
        .unwrap_err()
        .contains("outside the text"));
}
