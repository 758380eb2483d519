//! JSON Pointers (RFC 6901), the address every problem and every action carries.
//!
//! A pointer is how a user finds the offending element in their file, so it is kept as the
//! escaped string form (`/definition/actions/Get~1Orders/runAfter`) rather than as segments.

use std::fmt;

/// An escaped JSON Pointer into a workflow or app file. The empty pointer is the document root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pointer(String);

impl Pointer {
    /// The pointer to the document root.
    pub fn root() -> Self {
        Pointer(String::new())
    }

    /// This pointer extended by one object key or array index.
    pub fn join(&self, segment: impl fmt::Display) -> Pointer {
        let mut next = self.0.clone();
        next.push('/');
        for c in segment.to_string().chars() {
            match c {
                '~' => next.push_str("~0"),
                '/' => next.push_str("~1"),
                c => next.push(c),
            }
        }
        Pointer(next)
    }

    /// This pointer followed by `relative` (a pointer taken from inside the element here).
    pub fn append(&self, relative: &Pointer) -> Pointer {
        Pointer(format!("{}{}", self.0, relative.0))
    }

    /// The escaped string form, empty for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pointer one level up, or `None` at the root.
    pub fn parent(&self) -> Option<Pointer> {
        self.0.rfind('/').map(|i| Pointer(self.0[..i].to_string()))
    }

    /// Wraps an already escaped pointer string.
    pub fn from_escaped(s: impl Into<String>) -> Pointer {
        Pointer(s.into())
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("/")
        } else {
            f.write_str(&self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slash_and_tilde() {
        let p = Pointer::root().join("actions").join("a/b~c").join(0);
        assert_eq!(p.as_str(), "/actions/a~1b~0c/0");
        assert_eq!(p.parent().unwrap().as_str(), "/actions/a~1b~0c");
        assert_eq!(Pointer::root().to_string(), "/");
    }
}
