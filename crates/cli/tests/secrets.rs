//! Secrets never appear in what the program prints: a canary secret is given every way a
//! setting can be (environment variables, a settings file, Kafka properties, a URL's
//! user-info), and the output of `--help` of every command, and of a command that fails on it,
//! must not contain it. No servers: these are the program's own words.

mod common;

use std::process::Output;

use common::{ratings_stream, temp_dir};

const CANARY: &str = "canary-7f3e9b2d";

/// The commands and subcommands with a `--help`.
const COMMANDS: [&[&str]; 9] = [
    &["checkpoint"],
    &[],
    &["run"],
    &["demo"],
    &["generate"],
    &["replay"],
    &["verify"],
    &["dashboard"],
    &["checkpoint", "inspect"],
];

/// Every environment variable that may carry a secret, set to one holding the canary.
fn with_canary(command: &mut std::process::Command) -> &mut std::process::Command {
    let user_info = format!("ops:{CANARY}@");
    command
        .env(
            "RATINGS_KAFKA_PROPERTIES",
            format!("security.protocol=SASL_SSL\nsasl.password={CANARY}"),
        )
        .env("RATINGS_DASHBOARD_TOKEN", CANARY)
        .env(
            "RATINGS_DASHBOARD_SCRAPE",
            format!("http://{user_info}127.0.0.1:9464/metrics"),
        )
        .env(
            "RATINGS_STORAGE",
            format!("hdfs://{user_info}127.0.0.1:1/data"),
        )
        .env(
            "RATINGS_CHECKPOINT_STORAGE",
            format!("hdfs://{user_info}127.0.0.1:1/checkpoints"),
        )
}

fn assert_no_canary(what: &str, output: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains(CANARY), "{what} printed the secret:\n{text}");
}

#[test]
fn help_never_shows_a_secret_given_in_the_environment() {
    for command in COMMANDS {
        let output = with_canary(ratings_stream().args(command).arg("--help"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{command:?} --help failed");
        assert_no_canary(&format!("{command:?} --help"), &output);
    }
}

#[test]
fn help_never_shows_a_secret_from_the_settings_file() {
    let config = temp_dir("secrets-config").join("settings.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nstorage = \"hdfs://ops:{CANARY}@127.0.0.1:1/data\"\n\n\
             [kafka.properties]\n\"sasl.password\" = \"{CANARY}\"\n"
        ),
    )
    .unwrap();
    let output = ratings_stream()
        .args(["run", "--config", config.to_str().unwrap(), "--help"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_no_canary("run --config … --help", &output);
    // a syntax error on the secret's line
    std::fs::write(
        &config,
        format!("[kafka.properties]\n\"sasl.password\" = \"{CANARY}\n"),
    )
    .unwrap();
    let output = ratings_stream()
        .args(["run", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_no_canary("a settings file that is not TOML", &output);
}

#[test]
fn a_kafka_property_given_the_wrong_way_is_refused_without_echoing_it() {
    // no key: a secret pasted where a property was expected
    let output = ratings_stream()
        .args(["run", "--kafka-property", CANARY])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_no_canary("run --kafka-property SECRET", &output);
    // the same in the environment, after a good entry
    let output = ratings_stream()
        .arg("run")
        .env("RATINGS_KAFKA_PROPERTIES", format!("acks=all;{CANARY}"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_no_canary("RATINGS_KAFKA_PROPERTIES with a bad entry", &output);
}

#[test]
fn a_client_error_quoting_its_settings_shows_no_secret() {
    // librdkafka refuses a Java JAAS setting, quoting it whole: password included
    let jaas = format!(
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"ops\" password=\"{CANARY}\";"
    );
    for command in [&["verify"][..], &["run"], &["generate", "--count", "1"]] {
        let output = ratings_stream()
            .args(command)
            .args([
                "--bootstrap-servers",
                "127.0.0.1:1",
                "--kafka-property",
                &jaas,
            ])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{command:?}");
        let said =
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains("JAAS"),
            "{command:?} did not report the client's error: {said}"
        );
        assert_no_canary(&format!("{command:?} with a JAAS setting"), &output);
    }
}
