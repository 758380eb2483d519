//! Source positions: which line and column of a JSON file a JSON Pointer refers to.
//!
//! serde_json reports positions only for syntax errors, but a user fixing a bad `runAfter` needs
//! the line too. [`Locator`] keeps the text and, when problems are to be located, scans it once
//! for all of them ([`Locator::locate_all`]): it descends only into the members and elements on
//! the way to a wanted pointer and skips everything else without allocating, so locating costs
//! no memory per element of the file (a hostile 50 MB file of tiny elements would otherwise
//! need gigabytes). A position is where an element starts: the opening quote of its key for an
//! object member, the first character of the value for an array element or the root. Columns
//! count characters, not bytes, starting at 1. A first scan notices keys repeated within one
//! object, which JSON parsers silently collapse; it keeps a keyed hash per key, not the key.

use crate::pointer::Pointer;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

/// A 1-based line and column in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Deeper than this the scans stop: serde_json, which reads every file first, refuses JSON
/// nested deeper than 128.
const MAX_DEPTH: usize = 256;

/// Finds where the elements of one JSON document start, by JSON Pointer.
#[derive(Debug, Default)]
pub struct Locator<'t> {
    text: &'t str,
    duplicates: Vec<Pointer>,
}

impl<'t> Locator<'t> {
    /// Keeps `text` and finds its repeated keys. Text that is not valid JSON yields what was
    /// found before the error; the syntax error itself is reported by the JSON parser.
    pub fn new(text: &'t str) -> Locator<'t> {
        let mut scan = Scan::new(text, Mode::Duplicates(RepeatedKeys::default()));
        scan.skip_ws();
        let _ = scan.value(Some(Pointer::root()), 0);
        let duplicates = match scan.mode {
            Mode::Duplicates(found) => found.pointers,
            Mode::Locate { .. } => Vec::new(),
        };
        Locator { text, duplicates }
    }

    /// Where the element at `pointer` starts; for a pointer to something absent (a missing
    /// field), the position of its nearest present ancestor.
    pub fn locate(&self, pointer: &Pointer) -> Option<Position> {
        self.locate_all(std::slice::from_ref(pointer)).remove(0)
    }

    /// [`Locator::locate`] for many pointers in one scan of the text.
    pub fn locate_all(&self, pointers: &[Pointer]) -> Vec<Option<Position>> {
        let mut wanted = HashSet::new();
        for pointer in pointers {
            let mut p = Some(pointer.clone());
            while let Some(current) = p {
                p = current.parent();
                if !wanted.insert(current.as_str().to_string()) {
                    break;
                }
            }
        }
        let mut scan = Scan::new(
            self.text,
            Mode::Locate {
                wanted,
                found: HashMap::new(),
            },
        );
        scan.skip_ws();
        let start = scan.position();
        scan.record(&Some(Pointer::root()), start);
        let _ = scan.value(Some(Pointer::root()), 0);
        let Mode::Locate { found, .. } = scan.mode else {
            return vec![None; pointers.len()];
        };
        pointers
            .iter()
            .map(|pointer| {
                let mut p = Some(pointer.clone());
                while let Some(current) = p {
                    if let Some(pos) = found.get(current.as_str()) {
                        return Some(*pos);
                    }
                    p = current.parent();
                }
                None
            })
            .collect()
    }

    /// Members whose key already appeared earlier in the same object (pointer of the repeat).
    pub fn duplicate_keys(&self) -> &[Pointer] {
        &self.duplicates
    }
}

/// Repeated keys: the path of segments to where the scan is, and what was found.
#[derive(Default)]
struct RepeatedKeys {
    hasher: std::collections::hash_map::RandomState,
    pointers: Vec<Pointer>,
}

enum Mode {
    Duplicates(RepeatedKeys),
    Locate {
        /// The wanted pointers and all their ancestors.
        wanted: HashSet<String>,
        found: HashMap<String, Position>,
    },
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u32,
    column: u32,
    mode: Mode,
}

/// The scan stops at the first syntax error; the error carries no detail because serde_json
/// reports it better.
struct Stop;

impl Scan<'_> {
    fn new(text: &str, mode: Mode) -> Scan<'_> {
        Scan {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
            column: 1,
            mode,
        }
    }

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

    /// The pointer of a child of `parent` worth following: in Locate mode only those on the
    /// way to a wanted pointer; in Duplicates mode every one (it names repeated keys).
    fn child(&self, parent: Option<&Pointer>, segment: impl std::fmt::Display) -> Option<Pointer> {
        let child = parent?.join(segment);
        match &self.mode {
            Mode::Locate { wanted, .. } => wanted.contains(child.as_str()).then_some(child),
            Mode::Duplicates(_) => Some(child),
        }
    }

    fn value(&mut self, pointer: Option<Pointer>, depth: usize) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Err(Stop);
        }
        self.skip_ws();
        match self.peek().ok_or(Stop)? {
            b'{' => self.object(pointer.as_ref(), depth),
            b'[' => self.array(pointer.as_ref(), depth),
            b'"' => self.skip_string(),
            _ => {
                while matches!(self.peek(), Some(b) if !b",]} \t\r\n".contains(&b)) {
                    self.bump();
                }
                Ok(())
            }
        }
    }

    fn record(&mut self, pointer: &Option<Pointer>, start: Position) {
        if let (Some(p), Mode::Locate { found, .. }) = (pointer, &mut self.mode) {
            found.insert(p.as_str().to_string(), start);
        }
    }

    fn object(&mut self, pointer: Option<&Pointer>, depth: usize) -> Result<(), Stop> {
        self.bump();
        // Keyed hashes of the keys seen (Duplicates mode only).
        let mut seen = HashSet::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(());
        }
        loop {
            self.skip_ws();
            let start = self.position();
            let needs_key = pointer.is_some();
            let key = match needs_key {
                true => Some(self.string()?),
                false => {
                    self.skip_string()?;
                    None
                }
            };
            let member = key.as_deref().and_then(|k| self.child(pointer, k));
            if let (Some(k), Mode::Duplicates(found)) = (&key, &mut self.mode) {
                if !seen.insert(found.hasher.hash_one(k)) {
                    found
                        .pointers
                        .push(pointer.map_or_else(Pointer::root, |p| p.join(k)));
                }
            }
            self.record(&member, start);
            self.expect(b':')?;
            self.value(member, depth + 1)?;
            self.skip_ws();
            match self.bump() {
                Some(b',') => continue,
                Some(b'}') => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    fn array(&mut self, pointer: Option<&Pointer>, depth: usize) -> Result<(), Stop> {
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
            let element = match &self.mode {
                // Array elements never hold repeated keys themselves: only objects do, and
                // those are reached with a pointer all the same.
                Mode::Duplicates(_) => pointer.map(|p| p.join(index)),
                Mode::Locate { .. } => self.child(pointer, index),
            };
            self.record(&element, start);
            self.value(element, depth + 1)?;
            index += 1;
            self.skip_ws();
            match self.bump() {
                Some(b',') => continue,
                Some(b']') => return Ok(()),
                _ => return Err(Stop),
            }
        }
    }

    /// Moves past a string literal without reading it.
    fn skip_string(&mut self) -> Result<(), Stop> {
        if self.bump() != Some(b'"') {
            return Err(Stop);
        }
        loop {
            match self.bump().ok_or(Stop)? {
                b'"' => return Ok(()),
                b'\\' => {
                    self.bump().ok_or(Stop)?;
                }
                _ => {}
            }
        }
    }

    /// Reads a string literal and returns its unescaped content.
    fn string(&mut self) -> Result<String, Stop> {
        let from = self.at;
        self.skip_string()?;
        let quoted = &self.bytes[from..self.at];
        if !quoted.contains(&b'\\') {
            return std::str::from_utf8(&quoted[1..quoted.len() - 1])
                .map(str::to_string)
                .map_err(|_| Stop);
        }
        // Let serde_json do the unescaping: keys with escapes are rare and it is exact.
        serde_json::from_slice(quoted).map_err(|_| Stop)
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
