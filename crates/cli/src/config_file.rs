//! The TOML settings file (`--config FILE` or `RATINGS_CONFIG`).
//!
//! Every option that has an environment variable can be set in the file under the same name
//! without the `RATINGS_` prefix, in lower case (`watermark_delay = "10min"`,
//! `bootstrap_servers = "broker:9092"`); sections only group settings, and must be one of
//! [`SECTIONS`]; `[kafka.properties]` holds librdkafka properties, and `[[alerts.rules]]` the
//! dashboard's alert rules (passed on as JSON in `RATINGS_ALERT_RULES`). An unknown key or section
//! is an error naming it and the file. The file is
//! applied as environment variables that are not already set, before the command line is
//! parsed, so the precedence is: flags, then environment, then file, then defaults.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::CommandFactory;

use crate::args::Cli;

const PROPERTIES_VARIABLE: &str = "RATINGS_KAFKA_PROPERTIES";
const ALERT_RULES_VARIABLE: &str = "RATINGS_ALERT_RULES";

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

/// Finds the settings file named on the command line or in the environment and applies it.
pub fn apply_from_args() -> anyhow::Result<()> {
    let Some(path) = config_path(std::env::args().collect()) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    let variables = variables(&text, &known_variables())
        .with_context(|| format!("in settings file {}", path.display()))?;
    for (name, value) in variables {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// `--config PATH`, `--config=PATH`, or `$RATINGS_CONFIG`.
fn config_path(args: Vec<String>) -> Option<PathBuf> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("RATINGS_CONFIG").map(PathBuf::from)
}

/// Every environment variable an option of any subcommand reads.
fn known_variables() -> HashSet<String> {
    let command = Cli::command();
    command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect()
}

/// The environment variables a settings file stands for.
fn variables(text: &str, known: &HashSet<String>) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse().map_err(|e| not_toml(text, &e))?;
    let mut out = Vec::new();
    collect(&table, known, &mut out)?;
    Ok(out)
}

fn collect(
    table: &toml::Table,
    known: &HashSet<String>,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) if key == "properties" => {
                out.push((PROPERTIES_VARIABLE.into(), properties(inner)?))
            }
            toml::Value::Array(rules) if key == "rules" => out.push((
                ALERT_RULES_VARIABLE.into(),
                serde_json::to_string(rules).context("alert rules")?,
            )),
            toml::Value::Table(inner) if SECTIONS.contains(&key.as_str()) => {
                collect(inner, known, out)?
            }
            toml::Value::Table(_) => bail!(
                "unknown section [{key}] (sections: {}; every option of `ratings-stream run --help` with an env var can be set in one)",
                SECTIONS.join(", ")
            ),
            value => {
                let name = format!(
                    "RATINGS_{}",
                    key.to_ascii_uppercase().replace(['-', '.'], "_")
                );
                if !known.contains(&name) {
                    bail!("unknown setting {key:?} (see `ratings-stream run --help`: every option with an env var can be set here)");
                }
                out.push((name, scalar(key, value)?));
            }
        }
    }
    Ok(())
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

/// librdkafka properties, one `key=value` per line (a value may hold `;`, as JAAS settings do).
fn properties(table: &toml::Table) -> anyhow::Result<String> {
    let pairs: anyhow::Result<Vec<String>> = table
        .iter()
        .map(|(k, v)| Ok(format!("{k}={}", scalar(k, v)?)))
        .collect();
    Ok(pairs?.join("\n"))
}

fn scalar(key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("setting {key:?} must be a string, number or boolean"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_the_line_and_key_but_not_the_value() {
        let text = "[kafka.properties]\n\"sasl.password\" = \"hunter2\n";
        let error = variables(text, &known_variables()).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(
            error.contains("line 2") && error.contains("sasl.password"),
            "{error}"
        );
    }

    #[test]
    fn maps_settings_to_environment_variables() {
        let text = r#"
            watermark_delay = "5min"
            [kafka]
            bootstrap_servers = "broker:9092"
            exit_at_end = true
            [kafka.properties]
            "security.protocol" = "SASL_SSL"
            "sasl.password" = "s3cret"
            [engine]
            top-n = 3
            [[alerts.rules]]
            name = "LowThroughput"
            threshold = 5.0
        "#;
        let vars = variables(text, &known_variables()).unwrap();
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("RATINGS_WATERMARK_DELAY"), Some("5min"));
        assert_eq!(get("RATINGS_BOOTSTRAP_SERVERS"), Some("broker:9092"));
        assert_eq!(get("RATINGS_EXIT_AT_END"), Some("true"));
        assert_eq!(get("RATINGS_TOP_N"), Some("3"));
        assert_eq!(
            get(PROPERTIES_VARIABLE),
            Some("sasl.password=s3cret\nsecurity.protocol=SASL_SSL")
        );
        assert_eq!(
            get(ALERT_RULES_VARIABLE),
            Some(r#"[{"name":"LowThroughput","threshold":5.0}]"#)
        );
    }

    #[test]
    fn rejects_unknown_settings_and_bad_values() {
        let known = known_variables();
        let err = variables("watermark_dely = \"1min\"", &known).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown setting \"watermark_dely\""),
            "{err:#}"
        );
        assert!(variables("top_n = [1, 2]", &known).is_err());
        let err = variables("[kafak]\nbootstrap_servers = \"b:9092\"", &known).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown section [kafak]"),
            "{err:#}"
        );
        assert!(variables("not toml at all [", &known).is_err());
    }

    #[test]
    fn finds_the_path_in_either_form() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            config_path(args(&["x", "run", "--config", "a.toml"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_path(args(&["x", "run", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}
