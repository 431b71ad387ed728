//! The flags layer: how a command line parsed by clap (which reads the environment too) becomes
//! settings. Every option with an environment variable (shown in `--help`) is a setting, under
//! that variable's name without `RATINGS_` in lower case, and so also a key of the settings
//! file; the other options are the command's own. Also the value parsers the flags share:
//! settings are checked with the model's own parsers ([`crate::text`]) and kept as text for
//! it; secrets' parsers never echo a value.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Parser};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Settings;

/// Settings whose flag has no environment variable, by the flag's id.
const WITHOUT_ENV: [&str; 3] = ["kafka_properties", "reset_checkpoint", "reset_windows"];

/// Parses the command line (clap reads the environment too) and the settings file, and layers
/// them: flags, then environment, then file, then the model's defaults. Exits on a clap error
/// or `--help`, as clap does.
pub fn parse<C: Parser + Serialize>() -> anyhow::Result<(C, Settings)> {
    let file = match config_path(std::env::args().collect()) {
        Some(path) => crate::file::load(&path)?,
        None => Map::new(),
    };
    let mut command = relax(C::command(), &file);
    let matches = command.get_matches_mut();
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    command.build();
    let explicit = explicit(&cli, &command, &matches)?;
    Ok((cli, crate::layers::settings(file, explicit)?))
}

/// `--config PATH`, `--config=PATH`, or `$RATINGS_CONFIG`: read before the command line is
/// parsed, since the file decides what a missing required option means.
pub fn config_path(args: Vec<String>) -> Option<PathBuf> {
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

/// The settings key an option stands for.
pub fn key(arg: &Arg) -> Option<String> {
    match arg.get_env() {
        Some(env) => env
            .to_str()?
            .strip_prefix("RATINGS_")
            .map(str::to_ascii_lowercase),
        None => WITHOUT_ENV
            .contains(&arg.get_id().as_str())
            .then(|| arg.get_id().to_string()),
    }
}

/// `command` with the options the file gives no longer required (`checkpoint inspect
/// --storage`), as when the file was applied as environment variables.
pub fn relax(mut command: clap::Command, file: &Map<String, Value>) -> clap::Command {
    let given: Vec<_> = command
        .get_arguments()
        .filter(|arg| arg.is_required_set() && key(arg).is_some_and(|k| file.contains_key(&k)))
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in given {
        command = command.mut_arg(id, |arg| arg.required(false));
    }
    let names: Vec<_> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| relax(sub, file));
    }
    command
}

/// The settings given on the command line or in the environment (not clap's defaults, which
/// are the model's: see the tests), by key; a flag wins over an environment variable.
pub fn explicit(
    cli: &impl Serialize,
    command: &clap::Command,
    matches: &ArgMatches,
) -> anyhow::Result<Map<String, Value>> {
    let Value::Object(values) = serde_json::to_value(cli)? else {
        anyhow::bail!("the flags do not serialise as a map")
    };
    let (command, matches) = leaf(command, matches);
    let mut given: Vec<_> = command
        .get_arguments()
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let source = matches.value_source(id)?;
            let value = values.get(id)?;
            let key = key(arg)?;
            (source != ValueSource::DefaultValue).then(|| (source, key, value.clone()))
        })
        .collect();
    given.sort_by_key(|(source, ..)| *source);
    Ok(given
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect())
}

/// The subcommand that was run, and its matches.
fn leaf<'a>(
    command: &'a clap::Command,
    matches: &'a ArgMatches,
) -> (&'a clap::Command, &'a ArgMatches) {
    match matches.subcommand() {
        Some((name, sub)) => match command.find_subcommand(name) {
            Some(subcommand) => leaf(subcommand, sub),
            None => (command, matches),
        },
        None => (command, matches),
    }
}

/// Checks text with a settings parser, and keeps the text (the model parses it again, with
/// the same parser, whichever layer it comes from).
pub fn checked<T: 'static>(
    parse: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |text| parse(text).map(|_| text.to_string())
}

/// Parses a finite number above zero.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number above 0")),
    }
}

/// Parses a finite number, zero or more.
pub fn not_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number of 0 or more")),
    }
}

/// A value parser whose errors never repeat the value (it may be a secret; clap's own errors
/// quote it).
#[derive(Clone)]
pub struct Quiet<F>(pub F);

impl<T, F> clap::builder::TypedValueParser for Quiet<F>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        argument: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let name = argument.map_or("a value".into(), |a| match a.get_long() {
            Some(long) if !a.is_hide_set() => format!("--{long}"),
            _ => a
                .get_env()
                .map_or("a value".into(), |e| e.to_string_lossy().into_owned()),
        });
        let refuse = |problem: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid {name}: {problem} (the value is not shown: it may be secret)\n"),
            )
            .with_cmd(command)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8 text".into()))?;
        (self.0)(text).map_err(refuse)
    }
}
