//! ISO 8601 durations (`PT7S`, `P1D`, `PT1H30M`), as WDL writes retry intervals and timeouts.
//!
//! Years and months have no fixed length; like Logic Apps' own timeout handling we count a month
//! as 30 days and a year as 365 days. Weeks are 7 days. Only the seconds may carry a fraction.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A parsed ISO 8601 duration that remembers how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDuration {
    text: String,
    duration: Duration,
}

impl IsoDuration {
    pub fn parse(text: &str) -> Result<IsoDuration, String> {
        parse(text).map(|duration| IsoDuration {
            text: text.to_string(),
            duration,
        })
    }

    pub fn as_duration(&self) -> Duration {
        self.duration
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        IsoDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

const DAY: f64 = 86_400.0;

fn parse(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| {
        format!(
            "'{text}' is not an ISO 8601 duration ({why}); write it like PT30S, PT5M, PT1H or P1D"
        )
    };
    let rest = text
        .strip_prefix('P')
        .ok_or_else(|| invalid("it must start with P"))?;
    let (date, time) = match rest.split_once('T') {
        Some((d, "")) => return Err(invalid(&format!("nothing follows T in 'P{d}T'"))),
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return Err(invalid("it has no components"));
    }
    let mut seconds = components(
        date,
        &[
            ('Y', 365.0 * DAY),
            ('M', 30.0 * DAY),
            ('W', 7.0 * DAY),
            ('D', DAY),
        ],
    )
    .map_err(|e| invalid(&e))?;
    if let Some(time) = time {
        seconds +=
            components(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)]).map_err(|e| invalid(&e))?;
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid("it is too long"))
}

/// Sums `<number><designator>` pairs; designators must appear in the order given by `units`.
fn components(mut s: &str, units: &[(char, f64)]) -> Result<f64, String> {
    let mut total = 0.0;
    let mut next_unit = 0;
    while !s.is_empty() {
        let digits = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .ok_or_else(|| format!("'{s}' has no unit designator"))?;
        if digits == 0 {
            let first = s.chars().next().unwrap_or_default();
            return Err(format!("'{first}' is not preceded by a number"));
        }
        let number: f64 = s[..digits]
            .replace(',', ".")
            .parse()
            .map_err(|_| format!("'{}' is not a number", &s[..digits]))?;
        let designator = s[digits..].chars().next().unwrap_or_default();
        let position = units[next_unit..]
            .iter()
            .position(|(u, _)| *u == designator)
            .ok_or_else(|| format!("unexpected '{designator}'"))?;
        let (unit, scale) = units[next_unit + position];
        if number.fract() != 0.0 && unit != 'S' {
            return Err(format!(
                "only seconds may have a fraction, not '{}{unit}'",
                &s[..digits]
            ));
        }
        total += number * scale;
        next_unit += position + 1;
        s = &s[digits + designator.len_utf8()..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> f64 {
        IsoDuration::parse(text)
            .unwrap()
            .as_duration()
            .as_secs_f64()
    }

    #[test]
    fn parses_logic_apps_durations() {
        assert_eq!(secs("PT7S"), 7.0);
        assert_eq!(secs("PT1H"), 3600.0);
        assert_eq!(secs("PT1H30M"), 5400.0);
        assert_eq!(secs("P1D"), 86_400.0);
        assert_eq!(secs("P1DT12H"), 129_600.0);
        assert_eq!(secs("P2W"), 14.0 * 86_400.0);
        assert_eq!(secs("PT0.5S"), 0.5);
        assert_eq!(secs("PT120S"), 120.0);
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "",
            "5S",
            "P",
            "PT",
            "PT5",
            "PT5X",
            "PTS",
            "PT1S1H",
            "P1.5D",
            "10 seconds",
            "PT϶",
            "P϶D",
        ] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad} accepted");
        }
        let e = IsoDuration::parse("PT5X").unwrap_err();
        assert!(e.contains("'PT5X' is not an ISO 8601 duration"), "{e}");
    }
}
