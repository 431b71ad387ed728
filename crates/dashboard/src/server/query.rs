//! The query string of a request, decoded.

/// `name=value` pairs of a query string, percent-decoded, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(text: &str) -> Query {
        Query(
            form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The names given that are not in `known`.
    pub(super) fn unknown<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !known.contains(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_unknown_names_found() {
        let query = Query::parse("type=sliding&range=1h&title=Am%C3%A9lie+2&x=1");
        assert_eq!(query.get("type"), Some("sliding"));
        assert_eq!(query.get("title"), Some("Amélie 2"));
        assert_eq!(query.get("missing"), None);
        assert_eq!(query.unknown(&["type", "range", "title"]), ["x"]);
    }
}
