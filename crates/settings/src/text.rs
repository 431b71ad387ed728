//! Settings as text: the parsers of every form a setting's value takes (`1min`, `128MB`,
//! `off`, `earliest`, `KEY=VALUE`), shared by the flags (as clap value parsers, so a flag is
//! checked exactly as the model reads it) and by the model's deserialisers below, which read a
//! value from its text whatever layer it comes from (file, environment or flag).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use ratings_connectors::kafka::StartFrom;
use ratings_core::WindowSpec;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// A human duration (`1min`, `30s`, `1h`).
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

/// A human duration in whole seconds.
pub fn seconds(text: &str) -> Result<i64, String> {
    let duration = duration(text)?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text}: use whole seconds"));
    }
    i64::try_from(duration.as_secs()).map_err(|_| format!("{text}: too large"))
}

/// Window types by their output names, `,` between them: `tumbling_1min,sliding_5min_1min`.
pub fn windows(text: &str) -> Result<Vec<WindowSpec>, String> {
    let specs = text
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(window)
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() {
        return Err(format!(
            "{text:?}: name at least one window, e.g. tumbling_1min"
        ));
    }
    for (k, spec) in specs.iter().enumerate() {
        if specs[..k].contains(spec) {
            return Err(format!("{} is named twice", spec.name()));
        }
    }
    Ok(specs)
}

/// One window type by its output name: `tumbling_<size>` or `sliding_<size>_<slide>`.
pub fn window(text: &str) -> Result<WindowSpec, String> {
    let text = text.trim();
    let spec = if let Some(size) = text.strip_prefix("tumbling_") {
        WindowSpec::tumbling(seconds(size)?)
    } else if let Some((size, slide)) = text
        .strip_prefix("sliding_")
        .and_then(|sizes| sizes.split_once('_'))
    {
        WindowSpec::sliding(seconds(size)?, seconds(slide)?)
    } else {
        return Err(format!(
            "{text}: a window is tumbling_<size> or sliding_<size>_<slide>, e.g. tumbling_15min, \
             sliding_5min_1min"
        ));
    };
    spec.map_err(|e| format!("{text}: {e}"))
}

/// A duration, or "off" (zero).
pub fn duration_or_off(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "off" => Ok(Duration::ZERO),
        other => duration(other).map_err(|e| format!("{e} (or \"off\")")),
    }
}

/// `off` (none), or what `parse` reads.
fn or_off<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    match text {
        "off" => Ok(None),
        text => parse(text).map(Some),
    }
}

/// Whole seconds, or "off".
pub fn seconds_or_off(text: &str) -> Result<Option<i64>, String> {
    or_off(text, seconds)
}

/// A count, or "off".
pub fn count_or_off(text: &str) -> Result<Option<usize>, String> {
    or_off(text, |t| {
        t.parse().map_err(|e| format!("{t}: {e} (or \"off\")"))
    })
}

/// Any text, or "off".
pub fn text_or_off(text: &str) -> Result<Option<String>, String> {
    or_off(text, |t| Ok(t.to_string()))
}

/// A byte size, or "off" (zero).
pub fn byte_size_or_off(text: &str) -> Result<usize, String> {
    match text.trim() {
        "off" => Ok(0),
        other => byte_size(other).map_err(|e| format!("{e} (or \"off\")")),
    }
}

/// A byte size: a number with an optional KB/MB/GB suffix (powers of 1024).
pub fn byte_size(text: &str) -> Result<usize, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (digits, unit) = match upper.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => upper.split_at(i),
        None => (upper.as_str(), ""),
    };
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KB" | "K" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use KB, MB or GB)")),
    };
    let number = digits
        .parse::<usize>()
        .map_err(|_| format!("not a size: {text:?}"))?;
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text}: too large"))
}

/// A starting position: `earliest`, `latest`, or a time (RFC 3339, or epoch milliseconds).
pub fn start_from(text: &str) -> Result<StartFrom, String> {
    match text.trim() {
        "earliest" => Ok(StartFrom::Earliest),
        "latest" => Ok(StartFrom::Latest),
        other if other.chars().all(|c| c.is_ascii_digit()) && !other.is_empty() => other
            .parse()
            .map(StartFrom::Timestamp)
            .map_err(|e| format!("{e}")),
        other => humantime::parse_rfc3339_weak(other)
            .map(|time| {
                let since = time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                StartFrom::Timestamp(since.as_millis() as i64)
            })
            .map_err(|_| {
                format!("{other:?} is not earliest, latest, an RFC 3339 time or epoch milliseconds")
            }),
    }
}

/// `KEY=VALUE`; an error never repeats the text (it may be a secret given the wrong way).
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "expected KEY=VALUE, got {} characters without a key",
            text.chars().count()
        )),
    }
}

/// Kafka properties as text: one KEY=VALUE per line, or `;`-separated when the text is one
/// line (a value may hold `;`, as JAAS settings do, when given one per line).
pub fn property_list(text: &str) -> Result<BTreeMap<String, String>, String> {
    let separator = if text.contains('\n') { '\n' } else { ';' };
    let entries = text
        .split(separator)
        .map(str::trim)
        .filter(|e| !e.is_empty());
    entries
        .enumerate()
        .map(|(i, entry)| key_value(entry).map_err(|e| format!("entry {}: {e}", i + 1)))
        .collect()
}

/// A scalar as the text an environment variable would hold.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A list: items, or text with `,` between them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Listed {
    Items(Vec<String>),
    Text(String),
}

/// Kafka properties: a table (the file), `KEY=VALUE` items (flags) or text (environment).
#[derive(Deserialize)]
#[serde(untagged)]
enum Properties {
    Table(BTreeMap<String, Scalar>),
    Items(Vec<String>),
    Text(String),
}

/// Reads a value through a text parser.
fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    parse(&Scalar::deserialize(d)?.text()).map_err(D::Error::custom)
}

/// Serde helpers for fields read from text: `#[serde(deserialize_with = "text::de::NAME")]`.
pub mod de {
    use super::*;

    /// Any `FromStr` value (numbers, paths, words).
    pub fn from_str<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error>
    where
        T::Err: Display,
    {
        parsed(d, |text| {
            text.trim().parse().map_err(|e: T::Err| e.to_string())
        })
    }

    /// Text, when given (a number is taken as its text, as in the environment).
    pub fn some<'de, D: Deserializer<'de>, T: From<String>>(d: D) -> Result<Option<T>, D::Error> {
        parsed(d, |text| Ok(Some(T::from(text.to_string()))))
    }

    /// Text (a number is taken as its text, as in the environment).
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        parsed(d, |text| Ok(text.to_string()))
    }

    pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        parsed(d, super::seconds)
    }

    pub fn seconds_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        parsed(d, super::seconds_or_off)
    }

    pub fn count_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        parsed(d, super::count_or_off)
    }

    pub fn text_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        parsed(d, super::text_or_off)
    }

    pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        parsed(d, super::byte_size)
    }

    pub fn byte_size_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        parsed(d, super::byte_size_or_off)
    }

    pub fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parsed(d, super::duration_or_off)
    }

    /// A list of items, or text with `,` between them.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Listed::deserialize(d)? {
            Listed::Items(items) => items,
            Listed::Text(text) => text.split(',').map(str::to_string).collect(),
        })
    }

    /// Kafka properties from a table, `KEY=VALUE` items or text; errors never show a value.
    pub fn properties<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        let properties = Properties::deserialize(d)
            .map_err(|_| D::Error::custom("expected a table of properties"))?;
        match properties {
            Properties::Table(table) => Ok(table.into_iter().map(|(k, v)| (k, v.text())).collect()),
            Properties::Items(items) => items
                .iter()
                .map(|item| key_value(item))
                .collect::<Result<_, _>>()
                .map_err(D::Error::custom),
            Properties::Text(text) => property_list(&text).map_err(D::Error::custom),
        }
    }

    /// Window types: a list of names, or text with `,` between them (see [`super::windows`]).
    pub fn windows<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<WindowSpec>>, D::Error> {
        let names = list(d)?.join(",");
        super::windows(&names).map(Some).map_err(D::Error::custom)
    }

    /// Alert rules: JSON text, or the rules themselves (`[[alerts.rules]]`), kept as JSON.
    pub fn json<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Some(match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(text) => text,
            rules => rules.to_string(),
        }))
    }
}

/// Durations as human text (`1s`, `5min`), both ways.
pub mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parsed(d, duration)
    }
}

/// Window types as their names (`tumbling_1min,sliding_5min_1min`), written.
pub fn window_names<S: Serializer>(
    value: &Option<Vec<WindowSpec>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        None => s.serialize_none(),
        Some(specs) => s.serialize_str(
            &specs
                .iter()
                .map(WindowSpec::name)
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

/// Starting offsets as text: `earliest`, `latest`, or epoch milliseconds, both ways.
pub mod start_from_text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &StartFrom, s: S) -> Result<S::Ok, S::Error> {
        match value {
            StartFrom::Earliest => s.serialize_str("earliest"),
            StartFrom::Latest => s.serialize_str("latest"),
            StartFrom::Timestamp(millis) => s.serialize_str(&millis.to_string()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StartFrom, D::Error> {
        parsed(d, start_from)
    }
}

#[cfg(test)]
mod tests;
