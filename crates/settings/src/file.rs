//! The TOML settings file: every setting under its key ([`crate::Settings`]), in any of the
//! [`SECTIONS`] (which only group keys) or at the top; `-` and `.` may stand for `_`, and case
//! does not matter. `[kafka.properties]` holds librdkafka properties and `[[alerts.rules]]` the
//! dashboard's alert rules. An unknown key or section, a value that is not a scalar, or text
//! that is not TOML is an error naming where — never the value, which may be a secret.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use crate::{Settings, FLAG_ONLY};

/// The sections a settings file may group its keys in.
pub const SECTIONS: [&str; 10] = [
    "kafka",
    "engine",
    "parquet",
    "storage",
    "stream",
    "delivery",
    "checkpoint",
    "telemetry",
    "dashboard",
    "alerts",
];

/// Reads the settings file at `path`: its values by key, checked against the model.
pub fn load(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    values(&text).with_context(|| format!("in settings file {}", path.display()))
}

/// The values a settings file's text gives, by key, checked against the model.
pub fn values(text: &str) -> anyhow::Result<Map<String, Value>> {
    let table: toml::Table = text.parse().map_err(|e| not_toml(text, &e))?;
    let mut out = Map::new();
    collect(&table, &known_keys(), &mut out)?;
    crate::layers::settings(out.clone(), Map::new())?;
    Ok(out)
}

/// The keys a settings file may set.
fn known_keys() -> HashSet<String> {
    Settings::keys()
        .into_iter()
        .filter(|key| !FLAG_ONLY.contains(&key.as_str()))
        .collect()
}

fn collect(
    table: &toml::Table,
    known: &HashSet<String>,
    out: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) if key == "properties" => {
                let properties = inner
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), scalar(k, v)?)))
                    .collect::<anyhow::Result<Map<_, _>>>()?;
                add(out, "kafka_properties", Value::Object(properties));
            }
            toml::Value::Array(rules) if key == "rules" => add(
                out,
                "alert_rules",
                serde_json::to_value(rules).context("alert rules")?,
            ),
            toml::Value::Table(inner) if SECTIONS.contains(&key.as_str()) => {
                collect(inner, known, out)?
            }
            toml::Value::Table(_) => bail!(
                "unknown section [{key}] (sections: {}; every option of `ratings-stream run --help` with an env var can be set in one)",
                SECTIONS.join(", ")
            ),
            value => {
                let name = key.to_ascii_lowercase().replace(['-', '.'], "_");
                if !known.contains(&name) {
                    bail!("unknown setting {key:?} (see `ratings-stream run --help`: every option with an env var can be set here)");
                }
                add(out, &name, scalar(key, value)?);
            }
        }
    }
    Ok(())
}

/// Sets `key` unless an earlier line of the file did.
fn add(out: &mut Map<String, Value>, key: &str, value: Value) {
    out.entry(key).or_insert(value);
}

/// Where and why `text` is not TOML — never the line itself, which may hold a secret.
fn not_toml(text: &str, error: &toml::de::Error) -> anyhow::Error {
    let at = error.span().map_or(0, |span| span.start).min(text.len());
    let line = text[..at].matches('\n').count() + 1;
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| format!(" (key {})", key.trim()))
        .unwrap_or_default();
    anyhow::anyhow!(
        "not valid TOML at line {line}{key}: {}",
        error.message().trim_end()
    )
}

/// A string, number or boolean.
fn scalar(key: &str, value: &toml::Value) -> anyhow::Result<Value> {
    Ok(match value {
        toml::Value::String(s) => Value::from(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        _ => bail!("setting {key:?} must be a string, number or boolean"),
    })
}

#[cfg(test)]
mod tests;
