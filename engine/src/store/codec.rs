//! The binary form of what the journal log holds: run headers, action records and the values
//! in them. JSON would do, but it is most of the cost of durability: strings are escaped,
//! floats and timestamps printed, and every number read back parsed. Here a value is a tag
//! byte and its bytes; lengths and integers are LEB128 varints (signed ones zigzagged); a
//! timestamp is seconds and nanoseconds.
//!
//! Decoding never trusts the bytes: every length is checked against what remains, nesting is
//! bounded, and a record that does not decode is an error, never a panic. (The log's frames
//! are checksummed, so such an error means a bug or a disk that lies.)

use crate::definition::{ActionType, RunStatus};
use crate::expr::value::Map;
use crate::expr::Value;
use crate::record::{ActionRecord, RetryRecord};
use crate::store::RunHeader;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error)]
#[error("a journal record does not decode: {0}")]
pub struct CodecError(&'static str);

impl CodecError {
    pub fn new(why: &'static str) -> CodecError {
        CodecError(why)
    }
}

/// Values nested deeper than this do not decode: deeper than JSON documents (128), script
/// results (128) and XML (256) may be.
const MAX_DEPTH: usize = 256;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INTEGER: u8 = 3;
const FLOAT: u8 = 4;
const DECIMAL: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;
/// In place of a record's outputs: the same value as its inputs (Compose).
const SAME_AS_INPUTS: u8 = 9;

/// Whether two values are surely equal without comparing them: the same shared allocation,
/// or equal scalars.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Arc::ptr_eq(x, y),
        (Value::Array(x), Value::Array(y)) => Arc::ptr_eq(x, y),
        (Value::Object(x), Value::Object(y)) => Arc::ptr_eq(x, y),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Integer(x), Value::Integer(y)) => x == y,
        _ => false,
    }
}

/// How a record's inputs and outputs are written: as they are (the journal), or as history
/// shows them (secured ones redacted, large ones referenced).
pub trait Shown {
    /// What to write in place of a value, known before writing it (a redaction).
    fn instead(&mut self, value: &Value, secure: bool) -> Option<Value>;
    /// What to write in place of a value that took `written` bytes (a reference to it).
    fn instead_of_written(&mut self, value: &Value, written: usize) -> Option<Value>;
}

/// The journal's view: values as they are.
pub struct AsIs;

impl Shown for AsIs {
    fn instead(&mut self, _: &Value, _: bool) -> Option<Value> {
        None
    }

    fn instead_of_written(&mut self, _: &Value, _: usize) -> Option<Value> {
        None
    }
}

/// Appends encoded items to a byte buffer.
pub struct Encoder<'b>(pub &'b mut Vec<u8>);

impl Encoder<'_> {
    pub fn u8(&mut self, byte: u8) {
        self.0.push(byte);
    }

    pub fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    pub fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    pub fn int(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub fn opt_str(&mut self, s: Option<&str>) {
        self.bool(s.is_some());
        if let Some(s) = s {
            self.str(s);
        }
    }

    pub fn time(&mut self, t: DateTime<Utc>) {
        self.int(t.timestamp());
        self.varint(u64::from(t.timestamp_subsec_nanos()));
    }

    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(NULL),
            Value::Bool(false) => self.u8(FALSE),
            Value::Bool(true) => self.u8(TRUE),
            Value::Integer(n) => {
                self.u8(INTEGER);
                self.int(*n);
            }
            Value::Float(f) => {
                self.u8(FLOAT);
                self.0.extend_from_slice(&f.to_le_bytes());
            }
            Value::Decimal(d) => {
                self.u8(DECIMAL);
                self.0.extend_from_slice(&d.serialize());
            }
            Value::String(s) => {
                self.u8(STRING);
                self.str(s);
            }
            Value::Array(items) => {
                self.u8(ARRAY);
                self.varint(items.len() as u64);
                items.iter().for_each(|item| self.value(item));
            }
            Value::Object(members) => {
                self.u8(OBJECT);
                self.varint(members.len() as u64);
                for (k, v) in members.iter() {
                    self.str(k);
                    self.value(v);
                }
            }
        }
    }

    /// A value as `shown` has it: replaced, or written and then replaced if too large.
    fn shown_value(&mut self, value: &Value, secure: bool, shown: &mut impl Shown) {
        if let Some(instead) = shown.instead(value, secure) {
            return self.value(&instead);
        }
        let start = self.0.len();
        self.value(value);
        if let Some(instead) = shown.instead_of_written(value, self.0.len() - start) {
            self.0.truncate(start);
            self.value(&instead);
        }
    }

    fn status(&mut self, status: RunStatus) {
        let index = RunStatus::ALL.iter().position(|s| *s == status);
        self.u8(index.unwrap_or(0) as u8);
    }

    pub fn record(&mut self, r: &ActionRecord) {
        self.record_shown(r, &mut AsIs)
    }

    /// A record (and its children) with inputs and outputs as `shown` shows them.
    pub fn record_shown(&mut self, r: &ActionRecord, shown: &mut impl Shown) {
        self.str(&r.name);
        self.str(r.action_type.as_str());
        self.status(r.status);
        self.time(r.start_time);
        self.time(r.end_time);
        self.shown_value(&r.inputs, r.secure.0, shown);
        let repeated = r.secure.0 == r.secure.1 && !r.inputs.is_null();
        match repeated && same(&r.inputs, &r.outputs) {
            true => self.u8(SAME_AS_INPUTS),
            false => self.shown_value(&r.outputs, r.secure.1, shown),
        }
        self.value(&r.error);
        self.opt_str(r.code.as_deref());
        self.varint(r.retries.len() as u64);
        for retry in &r.retries {
            self.time(retry.start_time);
            self.time(retry.end_time);
            self.str(&retry.code);
            self.value(&retry.error);
        }
        self.bool(r.iteration.is_some());
        if let Some(i) = r.iteration {
            self.int(i);
        }
        self.varint(r.actions.len() as u64);
        r.actions
            .iter()
            .for_each(|child| self.record_shown(child, shown));
        self.bool(r.secure.0);
        self.bool(r.secure.1);
    }

    pub fn header(&mut self, h: &RunHeader) {
        self.header_with_trigger(h, &h.trigger)
    }

    /// A header with `trigger` in place of its trigger outputs.
    pub fn header_with_trigger(&mut self, h: &RunHeader, trigger: &Value) {
        self.str(&h.id);
        self.str(&h.workflow);
        self.str(&h.version);
        self.status(h.status);
        self.bool(h.running);
        self.time(h.start_time);
        self.bool(h.end_time.is_some());
        if let Some(end) = h.end_time {
            self.time(end);
        }
        self.value(trigger);
        self.value(&h.error);
        self.opt_str(h.event_id.as_deref());
        self.bool(h.secure_trigger);
    }
}

/// Reads encoded items from a byte slice, checking every length.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    depth: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Decoder<'a> {
        Decoder { bytes, depth: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.bytes.len() {
            return Err(CodecError("it ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    pub fn bool(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError("a flag is neither 0 nor 1")),
        }
    }

    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(CodecError("a number is too long"))
    }

    pub fn int(&mut self) -> Result<i64, CodecError> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of items that each take at least one byte: more than remain is corrupt.
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len())
            .ok_or(CodecError("a count exceeds the record"))
    }

    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError("a string is not UTF-8"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.count()?;
        self.take(n)
    }

    pub fn opt_str(&mut self) -> Result<Option<String>, CodecError> {
        Ok(match self.bool()? {
            true => Some(self.str()?.to_string()),
            false => None,
        })
    }

    pub fn time(&mut self) -> Result<DateTime<Utc>, CodecError> {
        let seconds = self.int()?;
        let nanos = u32::try_from(self.varint()?).map_err(|_| CodecError("bad nanoseconds"))?;
        DateTime::from_timestamp(seconds, nanos).ok_or(CodecError("a time is out of range"))
    }

    pub fn value(&mut self) -> Result<Value, CodecError> {
        if self.depth >= MAX_DEPTH {
            return Err(CodecError("values nest too deep"));
        }
        Ok(match self.u8()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INTEGER => Value::Integer(self.int()?),
            FLOAT => Value::Float(f64::from_le_bytes(self.array()?)),
            DECIMAL => Value::Decimal(rust_decimal::Decimal::deserialize(self.array()?)),
            STRING => Value::String(Arc::from(self.str()?)),
            ARRAY => {
                let n = self.count()?;
                self.depth += 1;
                let items = (0..n).map(|_| self.value()).collect::<Result<Vec<_>, _>>();
                self.depth -= 1;
                Value::array(items?)
            }
            OBJECT => {
                let n = self.count()?;
                self.depth += 1;
                // A count is bounded by the bytes left, not by what they could hold.
                let mut members = Map::with_capacity_and_hasher(n.min(64), Default::default());
                let filled = (0..n).try_for_each(|_| {
                    let key = self.str()?.to_string();
                    members.insert(key, self.value()?);
                    Ok(())
                });
                self.depth -= 1;
                filled?;
                Value::object(members)
            }
            _ => return Err(CodecError("unknown value tag")),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        Ok(self.take(N)?.try_into().unwrap_or([0; N]))
    }

    fn status(&mut self) -> Result<RunStatus, CodecError> {
        let index = usize::from(self.u8()?);
        RunStatus::ALL
            .get(index)
            .copied()
            .ok_or(CodecError("unknown status"))
    }

    pub fn record(&mut self) -> Result<ActionRecord, CodecError> {
        if self.depth >= MAX_DEPTH {
            return Err(CodecError("records nest too deep"));
        }
        let name: Arc<str> = Arc::from(self.str()?);
        let action_type =
            ActionType::parse(self.str()?).ok_or(CodecError("unknown action type"))?;
        let mut r = ActionRecord::new(name, action_type, self.status()?, self.time()?);
        r.end_time = self.time()?;
        r.inputs = self.value()?;
        r.outputs = match self.bytes.first() {
            Some(&SAME_AS_INPUTS) => {
                self.take(1)?;
                r.inputs.clone()
            }
            _ => self.value()?,
        };
        r.error = self.value()?;
        r.code = self.opt_str()?;
        let retries = self.count()?;
        r.retries = (0..retries)
            .map(|_| {
                Ok(RetryRecord {
                    start_time: self.time()?,
                    end_time: self.time()?,
                    code: self.str()?.to_string(),
                    error: self.value()?,
                })
            })
            .collect::<Result<_, CodecError>>()?;
        r.iteration = match self.bool()? {
            true => Some(self.int()?),
            false => None,
        };
        let children = self.count()?;
        self.depth += 1;
        let actions = (0..children)
            .map(|_| self.record().map(Arc::new))
            .collect::<Result<_, _>>();
        self.depth -= 1;
        r.actions = actions?;
        r.secure = (self.bool()?, self.bool()?);
        Ok(r)
    }

    pub fn header(&mut self) -> Result<RunHeader, CodecError> {
        Ok(RunHeader {
            id: self.str()?.to_string(),
            workflow: self.str()?.to_string(),
            version: self.str()?.to_string(),
            status: self.status()?,
            running: self.bool()?,
            start_time: self.time()?,
            end_time: match self.bool()? {
                true => Some(self.time()?),
                false => None,
            },
            trigger: self.value()?,
            error: self.value()?,
            event_id: self.opt_str()?,
            secure_trigger: self.bool()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_value() -> Value {
        Value::from_json(serde_json::json!({
            "s": "text with \"quotes\" and ünïcode", "n": -42, "big": i64::MIN, "f": 2.5,
            "list": [null, true, false, {"deep": [1, [2, [3]]]}], "empty": {}
        }))
    }

    fn sample_record() -> ActionRecord {
        let start = Utc::now();
        let mut r = ActionRecord::new(
            Arc::from("Call"),
            ActionType::Http,
            RunStatus::Failed,
            start,
        );
        r.end_time = start + chrono::Duration::milliseconds(5);
        r.inputs = sample_value();
        r.outputs = Value::Decimal(rust_decimal::Decimal::new(12345, 3));
        r.code = Some("BadRequest".into());
        r.retries.push(RetryRecord {
            start_time: start,
            end_time: start,
            code: "ServiceUnavailable".into(),
            error: Value::from("busy"),
        });
        r.iteration = Some(-3);
        r.secure = (true, false);
        let mut child = r.clone();
        child.name = Arc::from("Inner");
        r.actions.push(Arc::new(child));
        r
    }

    fn json(r: &ActionRecord) -> String {
        serde_json::to_string(r).unwrap()
    }

    #[test]
    fn records_and_headers_round_trip() {
        let record = sample_record();
        let header = RunHeader {
            id: "0190".into(),
            workflow: "wf".into(),
            version: "v1".into(),
            status: RunStatus::Cancelled,
            running: true,
            start_time: Utc::now(),
            end_time: Some(Utc::now()),
            trigger: sample_value(),
            error: Value::Null,
            event_id: Some("topic/0/7".into()),
            secure_trigger: true,
        };
        let mut bytes = Vec::new();
        Encoder(&mut bytes).record(&record);
        Encoder(&mut bytes).header(&header);
        let mut d = Decoder::new(&bytes);
        assert_eq!(json(&d.record().unwrap()), json(&record));
        assert_eq!(d.header().unwrap(), header);
        assert!(d.is_empty());
    }

    #[test]
    fn outputs_equal_to_inputs_are_written_once() {
        let mut r = sample_record();
        r.actions.clear();
        r.secure = (false, false);
        r.outputs = r.inputs.clone();
        let (mut once, mut twice) = (Vec::new(), Vec::new());
        Encoder(&mut once).record(&r);
        r.outputs = sample_value();
        Encoder(&mut twice).record(&r);
        assert!(once.len() + 50 < twice.len());
        let back = Decoder::new(&once).record().unwrap();
        assert_eq!(back.outputs.to_json(), sample_value().to_json());
    }

    #[test]
    fn truncated_or_garbled_bytes_are_errors_not_panics() {
        let mut bytes = Vec::new();
        Encoder(&mut bytes).record(&sample_record());
        for cut in 0..bytes.len() {
            assert!(
                Decoder::new(&bytes[..cut]).record().is_err(),
                "cut at {cut}"
            );
        }
        for i in 0..bytes.len() {
            let mut garbled = bytes.clone();
            garbled[i] ^= 0xA5;
            let _ = Decoder::new(&garbled).record();
        }
        let mut deep = [ARRAY, 1].repeat(MAX_DEPTH + 10);
        deep.push(NULL);
        assert!(Decoder::new(&deep).value().is_err());
        let huge_count = [ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        assert!(Decoder::new(&huge_count).value().is_err());
    }
}
