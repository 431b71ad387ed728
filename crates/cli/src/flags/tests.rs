use std::collections::BTreeSet;

use std::path::PathBuf;

use clap::{Arg, CommandFactory, FromArgMatches};
use ratings_settings::flags::{config_path, explicit, key, relax};
use ratings_settings::layers;
use serde_json::{Map, Value};

use super::*;

/// Every option of every command that is a setting.
fn setting_options() -> Vec<(String, Arg)> {
    let mut command = Cli::command();
    command.build();
    let mut commands = vec![command];
    let mut out = Vec::new();
    while let Some(command) = commands.pop() {
        out.extend(
            command
                .get_arguments()
                .filter_map(|arg| Some((key(arg)?, arg.clone()))),
        );
        commands.extend(command.get_subcommands().cloned());
    }
    out
}

#[test]
fn every_setting_of_a_flag_is_a_key_of_the_model_and_back() {
    let model: BTreeSet<String> = Settings::keys().into_iter().collect();
    let flags: BTreeSet<String> = setting_options().into_iter().map(|(k, _)| k).collect();
    assert_eq!(flags, model);
}

#[test]
fn every_clap_default_is_the_models_default() {
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    for (key, arg) in setting_options() {
        let Some(default) = arg.get_default_values().first() else {
            continue;
        };
        let given = Map::from_iter([(key.clone(), Value::from(default.to_str().unwrap()))]);
        let settings = layers::settings(Map::new(), given).unwrap();
        let read = serde_json::to_value(settings).unwrap();
        assert_eq!(read[&key], defaults[&key], "the default of {key}");
    }
}

#[test]
fn flags_win_over_the_environment_and_defaults_are_not_given() {
    let mut command = Cli::command();
    let matches = command
        .try_get_matches_from_mut([
            "ratings-stream",
            "run",
            "--top-n",
            "3",
            "--kafka-property",
            "a=1",
        ])
        .unwrap();
    let cli = Cli::from_arg_matches(&matches).unwrap();
    command.build();
    let given = explicit(&cli, &command, &matches).unwrap();
    assert_eq!(given.get("top_n"), Some(&Value::from(3)));
    assert_eq!(
        given.get("kafka_properties"),
        Some(&serde_json::json!(["a=1"]))
    );
    assert!(!given.contains_key("tumbling"), "{given:?}");
}

#[test]
fn a_required_option_the_file_gives_is_no_longer_required() {
    let file = Map::from_iter([("storage".to_string(), Value::from("/tmp/x"))]);
    let parsed = relax(Cli::command(), &file).try_get_matches_from([
        "ratings-stream",
        "checkpoint",
        "inspect",
    ]);
    assert!(parsed.is_ok());
    let parsed = Cli::try_parse_from(["ratings-stream", "checkpoint", "inspect"]);
    assert!(parsed.is_err());
}

#[test]
fn every_run_option_has_an_environment_variable() {
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("run");
    let missing: Vec<_> = run
        .get_arguments()
        .filter(|a| !a.is_positional() && a.get_env().is_none())
        .map(|a| a.get_id().to_string())
        .filter(|id| {
            ![
                "config",
                "reset_checkpoint",
                "reset_windows",
                "help",
                "version",
                "log_format",
                // its environment variable is kafka_properties_env's
                "kafka_properties",
            ]
            .contains(&id.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "options of run without env: {missing:?}"
    );
}

#[test]
fn replay_refuses_a_speedup_that_is_not_positive() {
    let replay = |flag: &str, value: &str| {
        Cli::try_parse_from(["ratings-stream", "replay", "--input", "r.csv", flag, value])
    };
    for bad in ["0", "-2", "NaN", "inf"] {
        assert!(
            replay("--speedup", bad).is_err(),
            "--speedup {bad} accepted"
        );
    }
    for bad in ["-1", "NaN"] {
        assert!(replay("--rate", bad).is_err(), "--rate {bad} accepted");
    }
    assert!(replay("--speedup", "3600").is_ok());
}

#[test]
fn finds_the_settings_file_in_either_form() {
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

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}
