//! The layers of the settings, merged key by key and deserialised once into
//! [`crate::Settings`]: what the flags and the environment give (the command line reads the
//! environment too, and its flags win over it) over the settings file over the model's
//! defaults.

use serde_json::{Map, Value};

use crate::Settings;

/// The settings `explicit` (flags and environment) and `file` give, over the defaults.
pub fn settings(
    file: Map<String, Value>,
    explicit: Map<String, Value>,
) -> anyhow::Result<Settings> {
    let mut merged = file;
    merged.extend(explicit);
    serde_json::from_value(Value::Object(merged.clone()))
        .map_err(|error| name_the_key(&merged, error))
}

/// The first key whose value the model refuses, with why (a value parser's reason names
/// no value that may be secret).
fn name_the_key(merged: &Map<String, Value>, error: serde_json::Error) -> anyhow::Error {
    let refused = merged.iter().find_map(|(key, value)| {
        let alone = Map::from_iter([(key.clone(), value.clone())]);
        serde_json::from_value::<Settings>(Value::Object(alone))
            .err()
            .map(|error| anyhow::anyhow!("setting {key:?}: {error}"))
    });
    refused.unwrap_or_else(|| anyhow::anyhow!("settings: {error}"))
}
