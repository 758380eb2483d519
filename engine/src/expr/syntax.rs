//! The expression syntax tree and its parser.
//!
//! ```text
//! expression := primary postfix*
//! primary    := string | number | true | false | null | name '(' [expression (',' expression)*] ')'
//! postfix    := ['?'] ( '.' name | '[' expression ']' )
//! ```
//! Strings use single quotes with `''` for a quote. Function names are resolved (case-
//! insensitively) and their argument counts checked while parsing, so an expression that
//! parses can be evaluated without looking anything up.

use super::functions::{self, Function};
use super::value::Value;
use std::fmt;
use std::sync::Arc;

/// A parsed expression node with the byte range of its source text.
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Literal(Value),
    Call {
        function: &'static Function,
        args: Vec<Expr>,
    },
    Member {
        target: Box<Expr>,
        name: Arc<str>,
        null_safe: bool,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
        null_safe: bool,
    },
}

/// A syntax error in one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The expression text (without the leading `@` or the `@{ }`).
    pub expression: String,
    /// Character offset of the problem inside `expression`, from 0.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at character {} of the expression\n    {}\n    {}^",
            self.message,
            self.offset + 1,
            self.expression,
            " ".repeat(self.offset)
        )
    }
}

impl std::error::Error for SyntaxError {}

/// How deep an expression's tree may be: calls inside calls, and each `.name` or `[index]`
/// on a value. Real expressions stay far below it; the bound keeps parsing, evaluating and
/// dropping a hostile expression (ten thousand nested calls) from exhausting the stack.
pub const MAX_DEPTH: usize = 128;

/// Parses one expression (the text after `@`, or inside `@{ }`).
pub fn parse(source: &str) -> Result<Expr, SyntaxError> {
    let mut parser = Parser {
        source,
        at: 0,
        nesting: 0,
    };
    parser.skip_ws();
    let expr = parser.expression()?;
    parser.skip_ws();
    if parser.at < source.len() {
        return Err(parser.error_at(
            parser.at,
            format!(
                "unexpected '{}' after the end of the expression",
                parser.rest_char()
            ),
        ));
    }
    Ok(expr)
}

struct Parser<'s> {
    source: &'s str,
    /// Byte offset of the next character.
    at: usize,
    /// Expressions open around the one being parsed (the parser's own recursion).
    nesting: usize,
}

/// A parsed node and the depth of its tree.
type Parsed = (Expr, usize);

impl<'s> Parser<'s> {
    fn error_at(&self, byte: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            expression: self.source.to_string(),
            offset: self.source[..byte.min(self.source.len())].chars().count(),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.source[self.at..].chars().next()
    }

    fn rest_char(&self) -> char {
        self.peek().unwrap_or(' ')
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.at += self.rest_char().len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), SyntaxError> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = match self.peek() {
                Some(f) => format!("'{f}'"),
                None => "the end of the expression".to_string(),
            };
            Err(self.error_at(self.at, format!("expected '{c}' {what}, found {found}")))
        }
    }

    fn expression(&mut self) -> Result<Expr, SyntaxError> {
        self.expression_with_depth().map(|(expr, _)| expr)
    }

    fn too_deep(&self, at: usize) -> SyntaxError {
        self.error_at(
            at,
            format!(
                "the expression nests deeper than {MAX_DEPTH} levels of calls, members and indexes"
            ),
        )
    }

    fn expression_with_depth(&mut self) -> Result<Parsed, SyntaxError> {
        if self.nesting >= MAX_DEPTH {
            return Err(self.too_deep(self.at));
        }
        self.nesting += 1;
        let parsed = self.postfixes();
        self.nesting -= 1;
        parsed
    }

    fn postfixes(&mut self) -> Result<Parsed, SyntaxError> {
        let (mut expr, mut depth) = self.primary()?;
        loop {
            if depth > MAX_DEPTH {
                return Err(self.too_deep(expr.start));
            }
            self.skip_ws();
            let start = expr.start;
            let null_safe = self.eat('?');
            if self.eat('.') {
                self.skip_ws();
                let name_start = self.at;
                let name = self.name();
                if name.is_empty() {
                    return Err(self.error_at(name_start, "expected a property name after '.'"));
                }
                expr = Expr {
                    kind: ExprKind::Member {
                        target: Box::new(expr),
                        name: Arc::from(name),
                        null_safe,
                    },
                    start,
                    end: self.at,
                };
                depth += 1;
            } else if self.eat('[') {
                self.skip_ws();
                let (index, index_depth) = self.expression_with_depth()?;
                depth = depth.max(index_depth) + 1;
                self.expect(']', "to close the index")?;
                expr = Expr {
                    kind: ExprKind::Index {
                        target: Box::new(expr),
                        index: Box::new(index),
                        null_safe,
                    },
                    start,
                    end: self.at,
                };
            } else if null_safe {
                return Err(self.error_at(self.at, "expected '.' or '[' after '?'"));
            } else {
                return Ok((expr, depth));
            }
        }
    }

    fn primary(&mut self) -> Result<Parsed, SyntaxError> {
        self.skip_ws();
        let start = self.at;
        let literal = |value, end| {
            let expr = Expr {
                kind: ExprKind::Literal(value),
                start,
                end,
            };
            (expr, 1)
        };
        match self.peek() {
            None => Err(self.error_at(
                start,
                "expected a value or a function call, found the end of the expression",
            )),
            Some('\'') => {
                let s = self.string()?;
                Ok(literal(Value::string(s), self.at))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let value = self.number()?;
                Ok(literal(value, self.at))
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self.name();
                self.skip_ws();
                if self.peek() == Some('(') {
                    return self.call(name, start);
                }
                match name.to_ascii_lowercase().as_str() {
                    "true" => Ok(literal(Value::Bool(true), self.at)),
                    "false" => Ok(literal(Value::Bool(false), self.at)),
                    "null" => Ok(literal(Value::Null, self.at)),
                    _ => Err(self.error_at(
                        start,
                        format!("'{name}' is not a value; function calls need parentheses, e.g. {name}(), and strings single quotes, e.g. '{name}'"),
                    )),
                }
            }
            Some('"') => Err(self.error_at(
                start,
                "strings in expressions use single quotes, e.g. 'text'",
            )),
            Some(c) => Err(self.error_at(
                start,
                format!("expected a value or a function call, found '{c}'"),
            )),
        }
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Parsed, SyntaxError> {
        let function = functions::lookup(name).ok_or_else(|| {
            let hint = functions::suggest(name)
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            self.error_at(start, format!("unknown function '{name}'{hint}"))
        })?;
        self.expect('(', "after the function name")?;
        let mut args = Vec::new();
        let mut depth = 1;
        if !self.eat(')') {
            loop {
                let (arg, arg_depth) = self.expression_with_depth()?;
                depth = depth.max(arg_depth + 1);
                args.push(arg);
                if self.eat(')') {
                    break;
                }
                self.expect(',', "or ')' after an argument")?;
            }
        }
        if args.len() < function.min_args || args.len() > function.max_args {
            return Err(self.error_at(
                start,
                format!("{} but got {}", function.arity_text(), args.len()),
            ));
        }
        let expr = Expr {
            kind: ExprKind::Call { function, args },
            start,
            end: self.at,
        };
        Ok((expr, depth))
    }

    fn name(&mut self) -> &'s str {
        let start = self.at;
        while matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_' || c == '$') {
            self.at += self.rest_char().len_utf8();
        }
        let source: &'s str = self.source;
        &source[start..self.at]
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error_at(
                        start,
                        "this string is not closed; add a ' (write '' for a quote inside a string)",
                    ))
                }
                Some('\'') => {
                    self.at += 1;
                    if self.peek() == Some('\'') {
                        out.push('\'');
                        self.at += 1;
                    } else {
                        return Ok(out);
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.at += c.len_utf8();
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        if matches!(self.peek(), Some('-' | '+')) {
            self.at += 1;
        }
        let mut is_float = false;
        while let Some(c) = self.peek() {
            match c {
                '0'..='9' => {}
                '.' if !is_float => is_float = true,
                'e' | 'E' => {
                    is_float = true;
                    if matches!(self.source[self.at + 1..].chars().next(), Some('-' | '+')) {
                        self.at += 1;
                    }
                }
                _ => break,
            }
            self.at += 1;
        }
        let text = &self.source[start..self.at];
        let bad = || self.error_at(start, format!("'{text}' is not a number"));
        if is_float {
            text.parse::<f64>().map(Value::Float).map_err(|_| bad())
        } else {
            match text.parse::<i64>() {
                Ok(i) => Ok(Value::Integer(i)),
                Err(_) => text.parse::<f64>().map(Value::Float).map_err(|_| bad()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(source: &str) -> String {
        let e = parse(source).unwrap_err();
        format!("{}@{}", e.message, e.offset)
    }

    #[test]
    fn parses_calls_members_and_indexes() {
        let e = parse("triggerBody()?['id'].name[0]").unwrap();
        assert!(matches!(e.kind, ExprKind::Index { .. }));
        assert_eq!((e.start, e.end), (0, 28));
        let e = parse("  concat( 'a''b' , -1.5e2, true ) ").unwrap();
        let ExprKind::Call { function, args } = e.kind else {
            panic!()
        };
        assert_eq!(function.name, "concat");
        assert!(matches!(&args[0].kind, ExprKind::Literal(Value::String(s)) if &**s == "a'b"));
        assert!(matches!(args[1].kind, ExprKind::Literal(Value::Float(f)) if f == -150.0));
        assert!(matches!(args[2].kind, ExprKind::Literal(Value::Bool(true))));
    }

    #[test]
    fn function_names_ignore_case() {
        assert!(parse("UTCNOW()").is_ok());
        assert!(parse("encodeURIComponent('a b')").is_ok());
    }

    #[test]
    fn reports_position_of_errors() {
        assert_eq!(
            err("concat('a'"),
            "expected ',' or ')' after an argument, found the end of the expression@10"
        );
        assert_eq!(
            err("concat('a)"),
            "this string is not closed; add a ' (write '' for a quote inside a string)@7"
        );
        assert_eq!(
            err("concatt('a')"),
            "unknown function 'concatt'; did you mean 'concat'?@0"
        );
        assert_eq!(
            err("length('a', 'b')"),
            "length() takes exactly 1 argument but got 2@0"
        );
        assert_eq!(err("body('x')?"), "expected '.' or '[' after '?'@10");
        assert_eq!(
            err("body('x') body"),
            "unexpected 'b' after the end of the expression@10"
        );
        assert_eq!(err("foo"), "'foo' is not a value; function calls need parentheses, e.g. foo(), and strings single quotes, e.g. 'foo'@0");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}1{}", "string(".repeat(n), ")".repeat(n));
        assert!(parse(&deep(MAX_DEPTH - 1)).is_ok());
        assert!(parse(&deep(MAX_DEPTH)).is_err());
        assert!(err(&deep(10_000)).starts_with("the expression nests deeper than 128"));
        let chain = format!("triggerBody(){}", ".a".repeat(10_000));
        assert!(err(&chain).starts_with("the expression nests deeper"));
        let indexes = format!("{}1{}", "createArray(1)[".repeat(5_000), "]".repeat(5_000));
        assert!(err(&indexes).starts_with("the expression nests deeper"));
    }

    #[test]
    fn error_display_has_a_caret() {
        let e = parse("concat('a',, 'b')").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a value or a function call, found ',' at character 12 of the expression\n    concat('a',, 'b')\n               ^"
        );
    }
}
