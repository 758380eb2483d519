//! The cultures (locales) that `formatNumber`, `formatDateTime`, `parseDateTime`, `float`,
//! `isInt` and `isFloat` accept, with the .NET data they need. The default is en-US. A locale
//! outside this table is an error that lists the supported ones, never a silent fallback.

/// Number and date conventions of one culture.
#[derive(Debug)]
pub struct Culture {
    pub name: &'static str,
    pub decimal: &'static str,
    pub group: &'static str,
    pub currency: &'static str,
    /// .NET `CurrencyPositivePattern`: 0 `$n`, 1 `n$`, 2 `$ n`, 3 `n $`.
    pub currency_pattern: u8,
    pub days: [&'static str; 7],
    pub months: [&'static str; 12],
    /// Abbreviated names; `None` derives them from the first three letters.
    pub short_days: Option<[&'static str; 7]>,
    pub short_months: Option<[&'static str; 12]>,
    pub am: &'static str,
    pub pm: &'static str,
    pub short_date: &'static str,
    pub long_date: &'static str,
    pub short_time: &'static str,
    pub long_time: &'static str,
    pub month_day: &'static str,
    pub year_month: &'static str,
}

impl Culture {
    pub fn short_day(&self, i: usize) -> String {
        match self.short_days {
            Some(names) => names[i].to_string(),
            None => self.days[i].chars().take(3).collect(),
        }
    }

    pub fn short_month(&self, i: usize) -> String {
        match self.short_months {
            Some(names) => names[i].to_string(),
            None => self.months[i].chars().take(3).collect(),
        }
    }
}

const EN_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub const EN_US: Culture = Culture {
    name: "en-US",
    decimal: ".",
    group: ",",
    currency: "$",
    currency_pattern: 0,
    days: EN_DAYS,
    months: EN_MONTHS,
    short_days: None,
    short_months: None,
    am: "AM",
    pm: "PM",
    short_date: "M/d/yyyy",
    long_date: "dddd, MMMM d, yyyy",
    short_time: "h:mm tt",
    long_time: "h:mm:ss tt",
    month_day: "MMMM d",
    year_month: "MMMM yyyy",
};

const CULTURES: &[Culture] = &[
    EN_US,
    Culture {
        name: "en-GB",
        currency: "£",
        am: "am",
        pm: "pm",
        short_date: "dd/MM/yyyy",
        long_date: "dd MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d MMMM",
        ..EN_US
    },
    Culture {
        name: "fr-FR",
        decimal: ",",
        group: "\u{202f}",
        currency: "€",
        currency_pattern: 3,
        days: [
            "dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
        ],
        months: [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        short_days: Some(["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."]),
        short_months: Some([
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
            "nov.", "déc.",
        ]),
        am: "",
        pm: "",
        short_date: "dd/MM/yyyy",
        long_date: "dddd d MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d MMMM",
        year_month: "MMMM yyyy",
    },
    Culture {
        name: "de-DE",
        decimal: ",",
        group: ".",
        currency: "€",
        currency_pattern: 3,
        days: [
            "Sonntag",
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
        ],
        months: [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        short_days: Some(["So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"]),
        short_months: None,
        am: "",
        pm: "",
        short_date: "dd.MM.yyyy",
        long_date: "dddd, d. MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d. MMMM",
        year_month: "MMMM yyyy",
    },
    Culture {
        name: "es-ES",
        decimal: ",",
        group: ".",
        currency: "€",
        currency_pattern: 3,
        days: [
            "domingo",
            "lunes",
            "martes",
            "miércoles",
            "jueves",
            "viernes",
            "sábado",
        ],
        months: [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        short_days: None,
        short_months: None,
        am: "a. m.",
        pm: "p. m.",
        short_date: "dd/MM/yyyy",
        long_date: "dddd, d 'de' MMMM 'de' yyyy",
        short_time: "H:mm",
        long_time: "H:mm:ss",
        month_day: "d 'de' MMMM",
        year_month: "MMMM 'de' yyyy",
    },
    Culture {
        name: "it-IT",
        decimal: ",",
        group: ".",
        currency: "€",
        currency_pattern: 3,
        days: [
            "domenica",
            "lunedì",
            "martedì",
            "mercoledì",
            "giovedì",
            "venerdì",
            "sabato",
        ],
        months: [
            "gennaio",
            "febbraio",
            "marzo",
            "aprile",
            "maggio",
            "giugno",
            "luglio",
            "agosto",
            "settembre",
            "ottobre",
            "novembre",
            "dicembre",
        ],
        short_days: None,
        short_months: None,
        am: "",
        pm: "",
        short_date: "dd/MM/yyyy",
        long_date: "dddd d MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d MMMM",
        year_month: "MMMM yyyy",
    },
    Culture {
        name: "nl-NL",
        decimal: ",",
        group: ".",
        currency: "€",
        currency_pattern: 2,
        days: [
            "zondag",
            "maandag",
            "dinsdag",
            "woensdag",
            "donderdag",
            "vrijdag",
            "zaterdag",
        ],
        months: [
            "januari",
            "februari",
            "maart",
            "april",
            "mei",
            "juni",
            "juli",
            "augustus",
            "september",
            "oktober",
            "november",
            "december",
        ],
        short_days: None,
        short_months: None,
        am: "a.m.",
        pm: "p.m.",
        short_date: "d-M-yyyy",
        long_date: "dddd d MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d MMMM",
        year_month: "MMMM yyyy",
    },
    Culture {
        name: "pt-BR",
        decimal: ",",
        group: ".",
        currency: "R$",
        currency_pattern: 2,
        days: [
            "domingo",
            "segunda-feira",
            "terça-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "sábado",
        ],
        months: [
            "janeiro",
            "fevereiro",
            "março",
            "abril",
            "maio",
            "junho",
            "julho",
            "agosto",
            "setembro",
            "outubro",
            "novembro",
            "dezembro",
        ],
        short_days: None,
        short_months: None,
        am: "",
        pm: "",
        short_date: "dd/MM/yyyy",
        long_date: "dddd, d 'de' MMMM 'de' yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d 'de' MMMM",
        year_month: "MMMM 'de' yyyy",
    },
    Culture {
        name: "is-IS",
        decimal: ",",
        group: ".",
        currency: "kr",
        currency_pattern: 3,
        days: [
            "sunnudagur",
            "mánudagur",
            "þriðjudagur",
            "miðvikudagur",
            "fimmtudagur",
            "föstudagur",
            "laugardagur",
        ],
        months: [
            "janúar",
            "febrúar",
            "mars",
            "apríl",
            "maí",
            "júní",
            "júlí",
            "ágúst",
            "september",
            "október",
            "nóvember",
            "desember",
        ],
        short_days: None,
        short_months: None,
        am: "f.h.",
        pm: "e.h.",
        short_date: "d.M.yyyy",
        long_date: "dddd, d. MMMM yyyy",
        short_time: "HH:mm",
        long_time: "HH:mm:ss",
        month_day: "d. MMMM",
        year_month: "MMMM yyyy",
    },
];

/// The culture named `name` (`en-us`, `fr-FR`, or a bare language such as `fr`).
pub fn find(name: Option<&str>) -> Result<&'static Culture, String> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(&CULTURES[0]);
    };
    CULTURES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            CULTURES
                .iter()
                .find(|c| c.name[..2].eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| {
            let names: Vec<&str> = CULTURES.iter().map(|c| c.name).collect();
            format!(
                "locale '{name}' is not supported; supported locales: {}",
                names.join(", ")
            )
        })
}

/// Parses a number written in `culture`: group separators anywhere, the culture's decimal
/// separator, a leading or trailing sign, an exponent (.NET `NumberStyles.Float |
/// AllowThousands`).
pub fn parse_number(text: &str, culture: &Culture) -> Option<f64> {
    let mut s = text.trim().to_string();
    let mut negative = false;
    if let Some(rest) = s.strip_suffix('-') {
        negative = true;
        s = rest.to_string();
    } else if let Some(rest) = s.strip_suffix('+') {
        s = rest.to_string();
    }
    let grouped = if culture.group == "\u{202f}" {
        s.replace(['\u{202f}', '\u{a0}', ' '], "")
    } else {
        s.replace(culture.group, "")
    };
    let normalized = grouped.replace(culture.decimal, ".");
    if normalized.is_empty()
        || normalized
            .chars()
            .any(|c| !(c.is_ascii_digit() || ".eE+-".contains(c)))
    {
        return None;
    }
    let value: f64 = normalized.parse().ok()?;
    Some(if negative { -value } else { value })
}
