//! "Did you mean" hints: the closest known name to a misspelt one, for the messages of the
//! validator and the expression parser.

/// The candidate within two edits of `word`, ignoring case, for "did you mean" hints.
pub fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    candidates
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(edit_distance("compse", "compose"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("Compse", ["Scope", "Compose"].into_iter()),
            Some("Compose")
        );
        assert_eq!(
            closest("Timer", ["Request", "Recurrence"].into_iter()),
            None
        );
    }
}
