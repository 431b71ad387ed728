//! Value parsers of the flags: settings are checked with the model's own parsers
//! ([`ratings_settings::text`]) and kept as text for it; secrets' parsers never echo a value.

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
