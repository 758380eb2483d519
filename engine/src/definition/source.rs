//! Source positions: which line and column of a JSON file a JSON Pointer refers to.
//!
//! serde_json reports positions only for syntax errors, but a user fixing a bad `runAfter` needs
//! the line too. [`Locator`] scans the text once and records, for every element, where it starts:
//! the opening quote of its key for an object member, the first character of the value for an
//! array element or the root. Columns count characters, not bytes, starting at 1. The scan also
//! notices keys repeated within one object, which JSON parsers silently collapse.

use super::pointer::Pointer;
use std::collections::HashMap;

/// A 1-based line and column in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Positions of every element of one JSON document, addressed by JSON Pointer.
#[derive(Debug, Default)]
pub struct Locator {
    positions: HashMap<String, Position>,
    duplicates: Vec<Pointer>,
}

impl Locator {
    /// Scans `text`. Text that is not valid JSON yields the positions found before the error;
    /// the syntax error itself is reported by the JSON parser.
    pub fn new(text: &str) -> Locator {
        let mut scan = Scan {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
            column: 1,
            out: Locator::default(),
        };
        scan.skip_ws();
        let start = scan.position();
        let _ = scan.value(Pointer::root(), start);
        scan.out
    }

    /// Where the element at `pointer` starts; for a pointer to something absent (a missing
    /// field), the position of its nearest present ancestor.
    pub fn locate(&self, pointer: &Pointer) -> Option<Position> {
        let mut p = Some(pointer.clone());
        while let Some(current) = p {
            if let Some(pos) = self.positions.get(current.as_str()) {
                return Some(*pos);
            }
            p = current.parent();
        }
        None
    }

    /// Members whose key already appeared earlier in the same object (pointer of the repeat).
    pub fn duplicate_keys(&self) -> &[Pointer] {
        &self.duplicates
    }
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u32,
    column: u32,
    out: Locator,
}

/// The scan stops at the first syntax error; the error carries no detail because serde_json
/// reports it better.
struct Stop;

impl Scan<'_> {
    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Count characters: continuation bytes of a UTF-8 sequence add no column.
            self.column += 1;
        }
        Some(b)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), Stop> {
        self.skip_ws();
        if self.bump() == Some(b) {
            Ok(())
        } else {
            Err(Stop)
        }
    }

    fn value(&mut self, pointer: Pointer, start: Position) -> Result<(), Stop> {
        self.skip_ws();
        self.out
            .positions
            .insert(pointer.as_str().to_string(), start);
        match self.peek().ok_or(Stop)? {
            b'{' => self.object(&pointer),
            b'[' => self.array(&pointer),
            b'"' => self.string().map(drop),
            _ => {
                while matches!(self.peek(), Some(b) if !b",]} \t\r\n".contains(&b)) {
                    self.bump();
                }
                Ok(())
            }
        }
    }

    fn object(&mut self, pointer: &Pointer) -> Result<(), Stop> {
        self.bump();
        let mut seen = std::collections::HashSet::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(());
        }
        loop {
            self.skip_ws();
            let start = self.position();
            let key = self.string()?;
            let member = pointer.join(&key);
            if !seen.insert(key) {
                self.out.duplicates.push(member.clone());
            }
            self.expect(b':')?;
            self.value(member, start)?;
            self.skip_ws();
            match self.bump() {
                Some(b',') => continue,
                Some(b'}') => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    fn array(&mut self, pointer: &Pointer) -> Result<(), Stop> {
        self.bump();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            self.skip_ws();
            let start = self.position();
            self.value(pointer.join(index), start)?;
            index += 1;
            self.skip_ws();
            match self.bump() {
                Some(b',') => continue,
                Some(b']') => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    /// Reads a string literal and returns its unescaped content.
    fn string(&mut self) -> Result<String, Stop> {
        if self.bump() != Some(b'"') {
            return Err(Stop);
        }
        let mut raw = Vec::new();
        loop {
            match self.bump().ok_or(Stop)? {
                b'"' => break,
                b'\\' => {
                    raw.push(b'\\');
                    raw.push(self.bump().ok_or(Stop)?);
                }
                b => raw.push(b),
            }
        }
        // Let serde_json do the unescaping: keys with escapes are rare and it is exact.
        let mut quoted = Vec::with_capacity(raw.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(&raw);
        quoted.push(b'"');
        serde_json::from_slice(&quoted).map_err(|_| Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(locator: &Locator, pointer: &str) -> (u32, u32) {
        let p = locator
            .locate(&Pointer::from_escaped(pointer))
            .expect("located");
        (p.line, p.column)
    }

    #[test]
    fn positions_of_members_and_elements() {
        let text = "{\n  \"a\": {\"b/c\": [1,\n  \"x\"]},\n  \"é\": 2\n}";
        let l = Locator::new(text);
        assert_eq!(at(&l, ""), (1, 1));
        assert_eq!(at(&l, "/a"), (2, 3));
        assert_eq!(at(&l, "/a/b~1c"), (2, 9));
        assert_eq!(at(&l, "/a/b~1c/0"), (2, 17));
        assert_eq!(at(&l, "/a/b~1c/1"), (3, 3));
        assert_eq!(at(&l, "/é"), (4, 3));
        // A missing member falls back to its nearest ancestor.
        assert_eq!(at(&l, "/a/missing/deeper"), (2, 3));
    }

    #[test]
    fn finds_repeated_keys() {
        let l = Locator::new(r#"{"a": 1, "b": {"x": 1, "x": 2}, "a": 3}"#);
        let dups: Vec<_> = l.duplicate_keys().iter().map(|p| p.as_str()).collect();
        assert_eq!(dups, ["/b/x", "/a"]);
    }

    #[test]
    fn escaped_keys_are_unescaped() {
        let l = Locator::new(r#"{"a\"b\u00e9": true}"#);
        assert_eq!(at(&l, "/a\"bé"), (1, 2));
    }
}
