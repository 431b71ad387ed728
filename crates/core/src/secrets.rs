//! The secrets this process was given — Kafka passwords and JAAS settings, the dashboard's
//! token, the passwords in URLs — and their removal from any text it is about to show: a
//! client library's error may quote its configuration, a URL its user-info. Whoever reads a
//! secret from the settings registers it; whatever prints foreign text (logs, reports, the
//! dashboard's answers) scrubs it.

use std::borrow::Cow;
use std::sync::RwLock;

/// What replaces a secret.
pub const MASK: &str = "***";
/// Shorter values are not scrubbed: they would mask ordinary words (and are no secret worth
/// the name).
const SHORTEST: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `secret` for [`scrub`], and the password in it when it is a JAAS setting
/// (`… password="…";`).
pub fn register(secret: &str) {
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    let mut add = |value: &str| {
        if value.len() >= SHORTEST && !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_string());
            // the longest first, so that a secret holding another is masked whole
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    };
    add(secret);
    if let Some(password) = jaas_password(secret) {
        add(password);
    }
}

/// Remembers the user-info of `url` (`scheme://user:password@host…`), if it has one.
pub fn register_url(url: &str) {
    if let Some((user_info, _)) = user_info(url) {
        register(user_info);
        if let Some((_, password)) = user_info.split_once(':') {
            register(password);
        }
    }
}

/// `url` without its user-info, for showing.
pub fn without_user_info(url: &str) -> Cow<'_, str> {
    match user_info(url) {
        Some((_, at)) => Cow::Owned(format!("{}{}", &url[..at.0], &url[at.1..])),
        None => Cow::Borrowed(url),
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut scrubbed = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if scrubbed.contains(secret.as_str()) {
            scrubbed = Cow::Owned(scrubbed.replace(secret.as_str(), MASK));
        }
    }
    scrubbed
}

/// The user-info of `url` and the byte range it takes with its `@` (from the end of `://`).
fn user_info(url: &str) -> Option<(&str, (usize, usize))> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((&url[start..at], (start, at + 1)))
}

/// The value of `password="…"` in a JAAS setting.
fn jaas_password(text: &str) -> Option<&str> {
    let rest = &text[text.find("password=\"")? + "password=\"".len()..];
    Some(&rest[..rest.find('"')?])
}

/// A writer that masks secrets: each write is one whole log line.
pub struct Scrubbed<W>(pub W);

impl<W: std::io::Write> std::io::Write for Scrubbed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.0.write_all(scrub(text).as_bytes())?,
            Err(_) => self.0.write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_wherever_they_appear() {
        register("s3cret-one");
        register("org.example.Login required username=\"u\" password=\"pa;ss-two\";");
        register_url("http://ops:pw-three@dash.example:9464/metrics");
        register("abc");
        let text = "failed: s3cret-one, password=\"pa;ss-two\", ops:pw-three@ and abc";
        let scrubbed = scrub(text);
        for secret in ["s3cret-one", "pa;ss-two", "pw-three"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(
            scrubbed.ends_with("and abc"),
            "too short to be masked: {scrubbed}"
        );
        assert_eq!(scrub("nothing secret"), "nothing secret");
    }

    #[test]
    fn a_url_is_shown_without_its_user_info() {
        assert_eq!(
            without_user_info("http://ops:pw@127.0.0.1:9464/metrics?x=a@b"),
            "http://127.0.0.1:9464/metrics?x=a@b"
        );
        assert_eq!(without_user_info("s3://bucket/dir"), "s3://bucket/dir");
        assert_eq!(without_user_info("hdfs://u@nn:8020/d"), "hdfs://nn:8020/d");
    }
}
