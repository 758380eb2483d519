//! The function library, by category, and the registry the parser resolves names against.
//!
//! Each category file exports a `FUNCTIONS` table. A function is either eager (its arguments
//! are evaluated first and it sees [`Args`]) or lazy (`and`, `or`, `if`, `coalesce`: it gets
//! the argument expressions and evaluates only what it needs).

mod collection;
mod conversion;
pub(crate) mod culture;
mod datetime;
pub mod datetime_format;
pub mod logical;
mod math;
mod number_format;
mod string;
mod uri;
mod workflow;
mod xml;

#[cfg(test)]
mod semantics_tests;

use super::context::EvalContext;
use super::eval::{EvalError, Evaluator};
use super::syntax::Expr;
use super::value::{Map, Value};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One function of the expression language.
#[derive(Debug)]
pub struct Function {
    /// The documented spelling.
    pub name: &'static str,
    pub min_args: usize,
    /// `usize::MAX` for variadic functions.
    pub max_args: usize,
    pub imp: Imp,
    /// Its result can differ between two calls with the same arguments (`utcNow`, `guid`,
    /// `rand` …): a run journals the inline actions that call it, so that replay after a
    /// crash sees the same value.
    pub nondeterministic: bool,
}

/// How a function is implemented.
#[derive(Clone, Copy)]
pub enum Imp {
    Eager(fn(&mut Args<'_>) -> Result<Value, FnError>),
    Lazy(fn(&[Expr], &Evaluator<'_>) -> Result<Value, EvalError>),
}

impl std::fmt::Debug for Imp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Imp::Eager(_) => "Eager",
            Imp::Lazy(_) => "Lazy",
        })
    }
}

impl Function {
    /// "concat() takes at least 1 argument", for arity errors.
    pub fn arity_text(&self) -> String {
        let n = |k: usize| format!("{k} argument{}", if k == 1 { "" } else { "s" });
        let name = self.name;
        if self.min_args == self.max_args {
            format!("{name}() takes exactly {}", n(self.min_args))
        } else if self.max_args == usize::MAX {
            format!("{name}() takes at least {}", n(self.min_args))
        } else {
            format!(
                "{name}() takes {} to {} arguments",
                self.min_args, self.max_args
            )
        }
    }
}

/// Declares a function table entry: `f!("name", min, max, implementation)`.
macro_rules! f {
    ($name:literal, $min:expr, $max:expr, lazy $imp:expr) => {
        $crate::expr::functions::Function {
            name: $name,
            min_args: $min,
            max_args: $max,
            imp: $crate::expr::functions::Imp::Lazy($imp),
            nondeterministic: false,
        }
    };
    ($name:literal, $min:expr, $max:expr, nondeterministic $imp:expr) => {
        $crate::expr::functions::Function {
            name: $name,
            min_args: $min,
            max_args: $max,
            imp: $crate::expr::functions::Imp::Eager($imp),
            nondeterministic: true,
        }
    };
    ($name:literal, $min:expr, $max:expr, $imp:expr) => {
        $crate::expr::functions::Function {
            name: $name,
            min_args: $min,
            max_args: $max,
            imp: $crate::expr::functions::Imp::Eager($imp),
            nondeterministic: false,
        }
    };
}
pub(crate) use f;

/// Arguments to unbounded functions.
pub const MANY: usize = usize::MAX;

/// The function tables of every category.
const CATEGORIES: [&[Function]; 9] = [
    string::FUNCTIONS,
    collection::FUNCTIONS,
    logical::FUNCTIONS,
    conversion::FUNCTIONS,
    math::FUNCTIONS,
    datetime::FUNCTIONS,
    workflow::FUNCTIONS,
    uri::FUNCTIONS,
    xml::FUNCTIONS,
];

fn registry() -> &'static HashMap<String, &'static Function> {
    static REGISTRY: OnceLock<HashMap<String, &'static Function>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        CATEGORIES
            .into_iter()
            .flatten()
            .map(|f| (f.name.to_ascii_lowercase(), f))
            .collect()
    })
}

/// Finds a function by name, ignoring case.
pub fn lookup(name: &str) -> Option<&'static Function> {
    registry().get(&name.to_ascii_lowercase()).copied()
}

/// A known function name close to `name`, for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    let names = registry().values().map(|f| f.name);
    crate::spelling::closest(name, names).or_else(|| {
        // `toUpperCase` → `toUpper`: a known name that the unknown one starts with.
        let lower = name.to_ascii_lowercase();
        registry()
            .iter()
            .filter(|(k, _)| k.len() >= 4 && lower.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, f)| f.name)
    })
}

/// Every function name, for documentation and tests.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = registry().values().map(|f| f.name).collect();
    names.sort_unstable();
    names
}

/// Why an eager function failed.
#[derive(Debug)]
pub enum FnError {
    /// Argument `index` is not what the function needs; `expected` says what it needs
    /// ("a string", "an integer or a float").
    Arg {
        index: usize,
        expected: &'static str,
    },
    /// Any other failure, in words.
    Message(String),
}

pub type FnResult = Result<Value, FnError>;

/// Shorthand for a failure in words.
pub fn fail<T>(message: impl Into<String>) -> Result<T, FnError> {
    Err(FnError::Message(message.into()))
}

/// A number argument in its own representation.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
    Decimal(Decimal),
}

/// The evaluated arguments of an eager call, with typed accessors whose errors name the
/// argument.
pub struct Args<'a> {
    pub values: Vec<Value>,
    pub ctx: &'a dyn EvalContext,
}

impl Args<'_> {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, i: usize) -> &Value {
        static NULL: Value = Value::Null;
        self.values.get(i).unwrap_or(&NULL)
    }

    pub fn opt(&self, i: usize) -> Option<&Value> {
        self.values.get(i)
    }

    /// Takes argument `i` out (it is not needed again).
    pub fn take(&mut self, i: usize) -> Value {
        self.values
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn str(&self, i: usize) -> Result<&str, FnError> {
        self.get(i).as_str().ok_or(FnError::Arg {
            index: i,
            expected: "a string",
        })
    }

    pub fn opt_str(&self, i: usize) -> Result<Option<&str>, FnError> {
        match self.opt(i) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.str(i).map(Some),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, FnError> {
        let bad = FnError::Arg {
            index: i,
            expected: "an integer",
        };
        match self.get(i) {
            Value::Integer(n) => Ok(*n),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
            Value::Decimal(d) if d.fract().is_zero() => i64::try_from(*d).map_err(|_| bad),
            _ => Err(bad),
        }
    }

    pub fn num(&self, i: usize) -> Result<Num, FnError> {
        match self.get(i) {
            Value::Integer(n) => Ok(Num::Int(*n)),
            Value::Float(f) => Ok(Num::Float(*f)),
            Value::Decimal(d) => Ok(Num::Decimal(*d)),
            _ => Err(FnError::Arg {
                index: i,
                expected: "a number",
            }),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, FnError> {
        match self.get(i) {
            Value::Bool(b) => Ok(*b),
            _ => Err(FnError::Arg {
                index: i,
                expected: "a boolean",
            }),
        }
    }

    pub fn array(&self, i: usize) -> Result<&[Value], FnError> {
        self.get(i).as_array().ok_or(FnError::Arg {
            index: i,
            expected: "an array",
        })
    }

    pub fn object(&self, i: usize) -> Result<&Map, FnError> {
        self.get(i).as_object().ok_or(FnError::Arg {
            index: i,
            expected: "an object",
        })
    }
}

/// `string()` semantics: null is empty, booleans are `True`/`False`, numbers print as .NET
/// prints them, arrays and objects as compact JSON.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Decimal(d) => d.normalize().to_string(),
        Value::String(s) => s.to_string(),
        other => other.to_json_string(),
    }
}

/// A float as .NET's shortest round-trip form prints it: `2.5`, `3`, `1E+21`.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "∞" } else { "-∞" }.to_string();
    }
    let magnitude = f.abs();
    if magnitude == 0.0 || (1e-5..1e15).contains(&magnitude) {
        return format!("{f}");
    }
    let text = format!("{f:E}");
    match text.split_once('E') {
        Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}E-{:0>2}", &exp[1..]),
        Some((mantissa, exp)) => format!("{mantissa}E+{exp:0>2}"),
        None => text,
    }
}

/// The binary content representation Logic Apps uses for non-text values.
pub fn binary_value(bytes: &[u8], content_type: &str) -> Value {
    use base64::Engine;
    let mut map = Map::default();
    map.insert("$content-type".into(), Value::from(content_type));
    map.insert(
        "$content".into(),
        Value::from(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    Value::object(map)
}

/// The bytes of a binary content object (`{"$content-type", "$content"}`), if it is one.
pub fn binary_bytes(value: &Value) -> Option<Vec<u8>> {
    use base64::Engine;
    let content = value.get("$content")?.as_str()?;
    value.get("$content-type")?;
    base64::engine::general_purpose::STANDARD
        .decode(content)
        .ok()
}

/// The bytes of an argument: a string's UTF-8, binary content's bytes, or the text form of
/// anything else (an object as JSON), as Logic Apps converts before encoding.
pub fn bytes_of(args: &Args<'_>, i: usize) -> Result<Vec<u8>, FnError> {
    match args.get(i) {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Null => Err(FnError::Arg {
            index: i,
            expected: "a string or binary content",
        }),
        other => Ok(binary_bytes(other).unwrap_or_else(|| to_text(other).into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_dotnet() {
        assert_eq!(float_text(2.5), "2.5");
        assert_eq!(float_text(3.0), "3");
        assert_eq!(float_text(1e21), "1E+21");
        assert_eq!(float_text(1.5e-7), "1.5E-07");
        assert_eq!(float_text(0.0001), "0.0001");
    }

    #[test]
    fn every_function_has_a_unique_name() {
        let all: usize = CATEGORIES.iter().map(|t| t.len()).sum();
        assert_eq!(all, names().len());
    }
}
