//! Date and time functions. Time zones are Windows names (`Pacific Standard Time`), as Logic
//! Apps takes them, mapped to IANA zones through the CLDR table of windows-timezones; IANA
//! names are accepted too.

use super::culture;
use super::datetime_format::{self as fmt, Kind, Timestamp};
use super::{f, fail, Args, FnError, FnResult, Function};
use crate::expr::value::Value;
use chrono::{Datelike, Duration, Months, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

pub(super) const FUNCTIONS: &[Function] = &[
    f!("addDays", 2, 3, add_days),
    f!("addHours", 2, 3, add_hours),
    f!("addMinutes", 2, 3, add_minutes),
    f!("addSeconds", 2, 3, add_seconds),
    f!("addToTime", 3, 4, add_to_time),
    f!("subtractFromTime", 3, 4, subtract_from_time),
    f!("getFutureTime", 2, 3, nondeterministic get_future_time),
    f!("getPastTime", 2, 3, nondeterministic get_past_time),
    f!("convertFromUtc", 2, 3, convert_from_utc),
    f!("convertToUtc", 2, 3, convert_to_utc),
    f!("convertTimeZone", 3, 4, convert_time_zone),
    f!("dayOfMonth", 1, 1, day_of_month),
    f!("dayOfWeek", 1, 1, day_of_week),
    f!("dayOfYear", 1, 1, day_of_year),
    f!("formatDateTime", 1, 3, format_date_time),
    f!("parseDateTime", 1, 3, parse_date_time),
    f!("startOfDay", 1, 2, start_of_day),
    f!("startOfHour", 1, 2, start_of_hour),
    f!("startOfMonth", 1, 2, start_of_month),
    f!("ticks", 1, 1, ticks),
    f!("utcNow", 0, 1, nondeterministic utc_now),
    f!("dateDifference", 2, 2, date_difference),
];

/// .NET ticks (100 ns) from 0001-01-01 to the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

fn timestamp(args: &Args<'_>, i: usize) -> Result<Timestamp, FnError> {
    fmt::parse(args.str(i)?).map_err(FnError::Message)
}

/// Formats the result with the optional format argument at `i` (default `o`).
fn output(ts: &Timestamp, args: &Args<'_>, i: usize) -> FnResult {
    let format = args.opt_str(i)?.unwrap_or("o");
    fmt::format(ts, format, &culture::EN_US)
        .map(Value::from)
        .map_err(FnError::Message)
}

fn shifted(ts: Timestamp, amount: i64, unit: &str) -> Result<Timestamp, FnError> {
    let overflow = || FnError::Message("the resulting time is out of range".into());
    let local = ts.local;
    let seconds = |n: i64| {
        local
            .checked_add_signed(Duration::try_seconds(n).ok_or_else(overflow)?)
            .ok_or_else(overflow)
    };
    let months = |n: i64| {
        let m = Months::new(u32::try_from(n.unsigned_abs()).map_err(|_| overflow())?);
        if n >= 0 {
            local.checked_add_months(m)
        } else {
            local.checked_sub_months(m)
        }
        .ok_or_else(overflow)
    };
    let local = match unit.to_ascii_lowercase().as_str() {
        "second" => seconds(amount)?,
        "minute" => seconds(amount.checked_mul(60).ok_or_else(overflow)?)?,
        "hour" => seconds(amount.checked_mul(3600).ok_or_else(overflow)?)?,
        "day" => seconds(amount.checked_mul(86_400).ok_or_else(overflow)?)?,
        "week" => seconds(amount.checked_mul(604_800).ok_or_else(overflow)?)?,
        "month" => months(amount)?,
        "year" => months(amount.checked_mul(12).ok_or_else(overflow)?)?,
        other => {
            return fail(format!(
                "'{other}' is not a time unit; use Second, Minute, Hour, Day, Week, Month or Year"
            ))
        }
    };
    Ok(Timestamp {
        local,
        kind: ts.kind,
    })
}

fn add_unit(args: &Args<'_>, unit: &str) -> FnResult {
    let ts = shifted(timestamp(args, 0)?, args.int(1)?, unit)?;
    output(&ts, args, 2)
}

fn add_days(args: &mut Args<'_>) -> FnResult {
    add_unit(args, "Day")
}

fn add_hours(args: &mut Args<'_>) -> FnResult {
    add_unit(args, "Hour")
}

fn add_minutes(args: &mut Args<'_>) -> FnResult {
    add_unit(args, "Minute")
}

fn add_seconds(args: &mut Args<'_>) -> FnResult {
    add_unit(args, "Second")
}

fn add_to_time(args: &mut Args<'_>) -> FnResult {
    let ts = shifted(timestamp(args, 0)?, args.int(1)?, args.str(2)?)?;
    output(&ts, args, 3)
}

fn subtract_from_time(args: &mut Args<'_>) -> FnResult {
    let ts = shifted(timestamp(args, 0)?, -args.int(1)?, args.str(2)?)?;
    output(&ts, args, 3)
}

fn now(args: &Args<'_>) -> Timestamp {
    Timestamp::utc(args.ctx.now())
}

fn get_future_time(args: &mut Args<'_>) -> FnResult {
    let ts = shifted(now(args), args.int(0)?, args.str(1)?)?;
    output(&ts, args, 2)
}

fn get_past_time(args: &mut Args<'_>) -> FnResult {
    let ts = shifted(now(args), -args.int(0)?, args.str(1)?)?;
    output(&ts, args, 2)
}

fn utc_now(args: &mut Args<'_>) -> FnResult {
    output(&now(args), args, 0)
}

/// A Windows time zone name (or an IANA one).
fn zone(args: &Args<'_>, i: usize) -> Result<Tz, FnError> {
    let name = args.str(i)?;
    if let Ok(windows) = name.parse::<windows_timezones::WindowsTimezone>() {
        return Ok(Tz::from(windows));
    }
    name.parse::<Tz>().or_else(|_| {
        fail(format!(
            "'{name}' is not a time zone; use a Windows time zone name such as 'Pacific Standard Time' or 'W. Europe Standard Time'"
        ))
    })
}

/// The instant of `ts`, reading a zone-less time as wall-clock time in `source`.
fn instant_in(ts: &Timestamp, source: Tz) -> Result<chrono::DateTime<chrono::Utc>, FnError> {
    match ts.kind {
        Kind::Unspecified => match source.from_local_datetime(&ts.local).earliest() {
            Some(t) => Ok(t.with_timezone(&chrono::Utc)),
            None => fail(format!("{} does not exist in {source}", ts.local)),
        },
        _ => Ok(ts.instant()),
    }
}

fn wall_clock(instant: chrono::DateTime<chrono::Utc>, zone: Tz) -> Timestamp {
    Timestamp {
        local: instant.with_timezone(&zone).naive_local(),
        kind: Kind::Unspecified,
    }
}

fn convert_from_utc(args: &mut Args<'_>) -> FnResult {
    let ts = timestamp(args, 0)?;
    let ts = wall_clock(instant_in(&ts, Tz::UTC)?, zone(args, 1)?);
    output(&ts, args, 2)
}

fn convert_to_utc(args: &mut Args<'_>) -> FnResult {
    let ts = timestamp(args, 0)?;
    let ts = Timestamp::utc(instant_in(&ts, zone(args, 1)?)?);
    output(&ts, args, 2)
}

fn convert_time_zone(args: &mut Args<'_>) -> FnResult {
    let ts = timestamp(args, 0)?;
    let ts = wall_clock(instant_in(&ts, zone(args, 1)?)?, zone(args, 2)?);
    output(&ts, args, 3)
}

fn day_of_month(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Integer(i64::from(timestamp(args, 0)?.local.day())))
}

fn day_of_week(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Integer(i64::from(
        timestamp(args, 0)?.local.weekday().num_days_from_sunday(),
    )))
}

fn day_of_year(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Integer(i64::from(
        timestamp(args, 0)?.local.ordinal(),
    )))
}

fn format_date_time(args: &mut Args<'_>) -> FnResult {
    let ts = timestamp(args, 0)?;
    let c = culture::find(args.opt_str(2)?).map_err(FnError::Message)?;
    let format = args.opt_str(1)?.unwrap_or("o");
    fmt::format(&ts, format, c)
        .map(Value::from)
        .map_err(FnError::Message)
}

fn parse_date_time(args: &mut Args<'_>) -> FnResult {
    let text = args.str(0)?;
    let c = culture::find(args.opt_str(1)?).map_err(FnError::Message)?;
    let parsed = match args.opt_str(2)? {
        Some(format) => fmt::parse_exact(text, format, c),
        None => fmt::parse_in_culture(text, c).or_else(|| fmt::parse(text).ok()),
    };
    match parsed {
        Some(ts) => Ok(Value::from(fmt::round_trip(&ts))),
        None => fail(format!("'{text}' is not a date and time in {}", c.name)),
    }
}

fn truncated(args: &Args<'_>, cut: fn(NaiveDateTime) -> Option<NaiveDateTime>) -> FnResult {
    let ts = timestamp(args, 0)?;
    let local = cut(ts.local).ok_or_else(|| FnError::Message("the time is out of range".into()))?;
    output(
        &Timestamp {
            local,
            kind: ts.kind,
        },
        args,
        1,
    )
}

fn start_of_day(args: &mut Args<'_>) -> FnResult {
    truncated(args, |t| Some(t.date().and_time(NaiveTime::MIN)))
}

fn start_of_hour(args: &mut Args<'_>) -> FnResult {
    truncated(args, |t| {
        t.with_minute(0)?.with_second(0)?.with_nanosecond(0)
    })
}

fn start_of_month(args: &mut Args<'_>) -> FnResult {
    truncated(args, |t| {
        Some(t.date().with_day(1)?.and_time(NaiveTime::MIN))
    })
}

fn ticks_of(ts: &Timestamp) -> i64 {
    let instant = ts.instant();
    UNIX_EPOCH_TICKS
        + instant.timestamp() * 10_000_000
        + i64::from(instant.timestamp_subsec_nanos() / 100)
}

fn ticks(args: &mut Args<'_>) -> FnResult {
    Ok(Value::Integer(ticks_of(&timestamp(args, 0)?)))
}

/// The difference as a .NET TimeSpan string: `[-][d.]hh:mm:ss[.fffffff]`.
fn date_difference(args: &mut Args<'_>) -> FnResult {
    let (start, end) = (timestamp(args, 0)?, timestamp(args, 1)?);
    let ticks = ticks_of(&end) - ticks_of(&start);
    let sign = if ticks < 0 { "-" } else { "" };
    let t = ticks.unsigned_abs();
    let (days, rest) = (t / 864_000_000_000, t % 864_000_000_000);
    let (h, m, s, frac) = (
        rest / 36_000_000_000,
        rest / 600_000_000 % 60,
        rest / 10_000_000 % 60,
        rest % 10_000_000,
    );
    let mut text = String::from(sign);
    if days > 0 {
        text.push_str(&format!("{days}."));
    }
    text.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        text.push_str(&format!(".{frac:07}"));
    }
    Ok(Value::from(text))
}
