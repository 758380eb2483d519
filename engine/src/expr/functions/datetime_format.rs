//! Timestamps as Logic Apps reads and writes them: ISO 8601 and US-style input, .NET standard
//! and custom format strings on output, and the input's time zone form kept (a `Z` stays a `Z`,
//! an offset stays an offset, no offset stays none).

use super::culture::{Culture, EN_US};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike, Utc};

/// Which time zone form a timestamp was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Utc,
    Offset(FixedOffset),
    Unspecified,
}

/// A wall-clock time and its zone form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub local: NaiveDateTime,
    pub kind: Kind,
}

impl Timestamp {
    pub fn utc(instant: DateTime<Utc>) -> Timestamp {
        Timestamp {
            local: instant.naive_utc(),
            kind: Kind::Utc,
        }
    }

    /// The instant; a timestamp without a zone is taken as UTC.
    pub fn instant(&self) -> DateTime<Utc> {
        match self.kind {
            Kind::Offset(offset) => (self.local - offset).and_utc(),
            _ => self.local.and_utc(),
        }
    }
}

const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
];

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d"];

/// Reads a timestamp in any form Logic Apps accepts without a format.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z"))
    {
        let kind = if t.ends_with('Z') || t.ends_with('z') {
            Kind::Utc
        } else {
            Kind::Offset(*dt.offset())
        };
        return Ok(Timestamp {
            local: dt.naive_local(),
            kind,
        });
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(t) {
        return Ok(Timestamp {
            local: dt.naive_utc(),
            kind: Kind::Utc,
        });
    }
    let (body, kind) = match t.strip_suffix('Z') {
        Some(body) => (body, Kind::Utc),
        None => (t, Kind::Unspecified),
    };
    for f in NAIVE_FORMATS {
        if let Ok(local) = NaiveDateTime::parse_from_str(body, f) {
            return Ok(Timestamp { local, kind });
        }
    }
    for f in DATE_FORMATS {
        if let Ok(date) = NaiveDate::parse_from_str(body, f) {
            return Ok(Timestamp {
                local: date.and_time(Default::default()),
                kind,
            });
        }
    }
    Err(format!(
        "'{text}' is not a timestamp; write it in ISO 8601, e.g. 2018-03-15T13:27:36Z"
    ))
}

/// Formats with a .NET standard (one letter) or custom format string.
pub fn format(ts: &Timestamp, format: &str, c: &Culture) -> Result<String, String> {
    let mut chars = format.chars();
    let (Some(letter), None) = (chars.next(), chars.next()) else {
        return Ok(custom(ts, format, c));
    };
    let to_utc = |ts: &Timestamp| match ts.kind {
        Kind::Offset(_) => Timestamp::utc(ts.instant()),
        _ => *ts,
    };
    let pattern = match letter {
        'd' => c.short_date.to_string(),
        'D' => c.long_date.to_string(),
        'f' => format!("{} {}", c.long_date, c.short_time),
        'F' => format!("{} {}", c.long_date, c.long_time),
        'g' => format!("{} {}", c.short_date, c.short_time),
        'G' => format!("{} {}", c.short_date, c.long_time),
        'M' | 'm' => c.month_day.to_string(),
        'O' | 'o' => return Ok(round_trip(ts)),
        'R' | 'r' => return Ok(custom(&to_utc(ts), "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", &EN_US)),
        's' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss".to_string(),
        't' => c.short_time.to_string(),
        'T' => c.long_time.to_string(),
        'u' => return Ok(custom(&to_utc(ts), "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", c)),
        'U' => return Ok(custom(&Timestamp::utc(ts.instant()), &format!("{} {}", c.long_date, c.long_time), c)),
        'Y' | 'y' => c.year_month.to_string(),
        other => {
            return Err(format!(
                "'{other}' is not a date and time format; use a standard one (d D f F g G M O R s t T u U Y) or a custom one such as yyyy-MM-dd"
            ))
        }
    };
    Ok(custom(ts, &pattern, c))
}

/// The .NET round-trip form `o`: `2018-03-15T13:27:36.0000000Z`.
pub fn round_trip(ts: &Timestamp) -> String {
    custom(ts, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", &EN_US)
}

fn date_separator(c: &Culture) -> char {
    c.short_date
        .chars()
        .find(|ch| !ch.is_alphabetic())
        .unwrap_or('/')
}

fn offset_of(ts: &Timestamp) -> i32 {
    match ts.kind {
        Kind::Offset(o) => o.local_minus_utc(),
        _ => 0,
    }
}

/// Formats with a .NET custom format string.
pub fn custom(ts: &Timestamp, format: &str, c: &Culture) -> String {
    let t = &ts.local;
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == ch).count();
        let mut consumed = run;
        match ch {
            'd' => out.push_str(&match run {
                1 => t.day().to_string(),
                2 => format!("{:02}", t.day()),
                3 => c.short_day(t.weekday().num_days_from_sunday() as usize),
                _ => c.days[t.weekday().num_days_from_sunday() as usize].to_string(),
            }),
            'M' => out.push_str(&match run {
                1 => t.month().to_string(),
                2 => format!("{:02}", t.month()),
                3 => c.short_month(t.month0() as usize),
                _ => c.months[t.month0() as usize].to_string(),
            }),
            'y' => out.push_str(&match run {
                1 => (t.year() % 100).to_string(),
                2 => format!("{:02}", t.year() % 100),
                n => format!("{:0n$}", t.year()),
            }),
            'h' => {
                let h = (t.hour() + 11) % 12 + 1;
                out.push_str(&if run == 1 {
                    h.to_string()
                } else {
                    format!("{h:02}")
                });
            }
            'H' => out.push_str(&if run == 1 {
                t.hour().to_string()
            } else {
                format!("{:02}", t.hour())
            }),
            'm' => out.push_str(&if run == 1 {
                t.minute().to_string()
            } else {
                format!("{:02}", t.minute())
            }),
            's' => out.push_str(&if run == 1 {
                t.second().to_string()
            } else {
                format!("{:02}", t.second())
            }),
            'f' | 'F' => {
                consumed = run.min(7);
                let digits = format!("{:07}", t.nanosecond() % 1_000_000_000 / 100);
                let mut part = digits[..consumed].to_string();
                if ch == 'F' {
                    part = part.trim_end_matches('0').to_string();
                    if part.is_empty() && out.ends_with('.') {
                        out.pop();
                    }
                }
                out.push_str(&part);
            }
            't' => {
                let designator = if t.hour() < 12 { c.am } else { c.pm };
                out.push_str(&if run == 1 {
                    designator.chars().take(1).collect()
                } else {
                    designator.to_string()
                });
            }
            'K' => {
                consumed = 1;
                match ts.kind {
                    Kind::Utc => out.push('Z'),
                    Kind::Offset(_) => out.push_str(&offset_text(offset_of(ts), 3)),
                    Kind::Unspecified => {}
                }
            }
            'z' => out.push_str(&offset_text(offset_of(ts), run.min(3))),
            'g' => out.push_str("A.D."),
            ':' => {
                consumed = 1;
                out.push(':');
            }
            '/' => {
                consumed = 1;
                out.push(date_separator(c));
            }
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == ch)
                    .map_or(chars.len(), |p| i + 1 + p);
                out.extend(&chars[i + 1..end]);
                consumed = end + 1 - i;
            }
            '\\' => {
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                }
                consumed = 2;
            }
            '%' => consumed = 1,
            other => {
                consumed = 1;
                out.push(other);
            }
        }
        i += consumed;
    }
    out
}

fn offset_text(seconds: i32, width: usize) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let (h, m) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    match width {
        1 => format!("{sign}{h}"),
        2 => format!("{sign}{h:02}"),
        _ => format!("{sign}{h:02}:{m:02}"),
    }
}

/// Parses `text` exactly as the .NET custom format `format` describes.
pub fn parse_exact(text: &str, format: &str, c: &Culture) -> Option<Timestamp> {
    let fmt: Vec<char> = format.chars().collect();
    let input: Vec<char> = text.trim().chars().collect();
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut pm) =
        (1, 1, 1, 0, 0, 0, None);
    let (mut i, mut at) = (0, 0);
    while i < fmt.len() {
        let ch = fmt[i];
        let run = fmt[i..].iter().take_while(|&&x| x == ch).count();
        let number = |at: &mut usize, min: usize, max: usize| read_number(&input, at, min, max);
        match ch {
            'd' if run <= 2 => day = number(&mut at, run, 2)?,
            'd' => {
                let names: Vec<String> = (0..7)
                    .map(|k| {
                        if run == 3 {
                            c.short_day(k)
                        } else {
                            c.days[k].to_string()
                        }
                    })
                    .collect();
                at += match_name(input.get(at..)?, &names)?.1;
            }
            'M' if run <= 2 => month = number(&mut at, run, 2)?,
            'M' => {
                let names: Vec<String> = (0..12)
                    .map(|k| {
                        if run == 3 {
                            c.short_month(k)
                        } else {
                            c.months[k].to_string()
                        }
                    })
                    .collect();
                let (index, len) = match_name(input.get(at..)?, &names)?;
                month = index as u32 + 1;
                at += len;
            }
            'y' => {
                let y = number(
                    &mut at,
                    if run <= 2 { 1 } else { run },
                    if run <= 2 { 2 } else { 4 },
                )?;
                year = if run <= 2 { 2000 + y as i32 } else { y as i32 };
            }
            'H' | 'h' => hour = number(&mut at, run.min(2), 2)?,
            'm' => minute = number(&mut at, run.min(2), 2)?,
            's' => second = number(&mut at, run.min(2), 2)?,
            't' => {
                let rest: String = input.get(at..)?.iter().collect();
                pm =
                    Some(rest.to_uppercase().starts_with(&c.pm.to_uppercase()) && !c.pm.is_empty());
                at += if run == 1 {
                    1
                } else {
                    c.am.chars().count().max(c.pm.chars().count())
                };
            }
            '\\' => {
                if input.get(at) != fmt.get(i + 1) {
                    return None;
                }
                at += 1;
                i += 2;
                continue;
            }
            '\'' | '"' => {
                let end = fmt[i + 1..]
                    .iter()
                    .position(|&x| x == ch)
                    .map_or(fmt.len(), |p| i + 1 + p);
                for literal in &fmt[i + 1..end] {
                    if input.get(at) != Some(literal) {
                        return None;
                    }
                    at += 1;
                }
                i = end + 1;
                continue;
            }
            _ => {
                for _ in 0..run {
                    let expected = if ch == '/' { date_separator(c) } else { ch };
                    if input.get(at) != Some(&expected) {
                        return None;
                    }
                    at += 1;
                }
            }
        }
        i += run;
    }
    if at != input.len() {
        return None;
    }
    if pm == Some(true) && hour < 12 {
        hour += 12;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(Timestamp {
        local,
        kind: Kind::Unspecified,
    })
}

/// Reads `min` to `max` digits at `at`.
fn read_number(input: &[char], at: &mut usize, min: usize, max: usize) -> Option<u32> {
    let digits: String = input
        .get(*at..)?
        .iter()
        .take(max)
        .take_while(|d| d.is_ascii_digit())
        .collect();
    if digits.len() < min {
        return None;
    }
    *at += digits.len();
    digits.parse().ok()
}

/// Matches the longest culture name at the start of `input`, ignoring case.
fn match_name(input: &[char], names: &[String]) -> Option<(usize, usize)> {
    let rest: String = input.iter().collect::<String>().to_lowercase();
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| rest.starts_with(&n.to_lowercase()))
        .max_by_key(|(_, n)| n.chars().count())
        .map(|(i, n)| (i, n.chars().count()))
}

/// Parses `text` the way a culture reads dates when no format is given.
pub fn parse_in_culture(text: &str, c: &Culture) -> Option<Timestamp> {
    let patterns = [
        c.short_date.to_string(),
        format!("{} {}", c.short_date, c.long_time),
        format!("{} {}", c.short_date, c.short_time),
        c.long_date.to_string(),
        c.long_date
            .trim_start_matches("dddd")
            .trim_start_matches([',', ' '])
            .to_string(),
        format!("{} yyyy", c.month_day),
    ];
    patterns.iter().find_map(|p| parse_exact(text, p, c))
}
