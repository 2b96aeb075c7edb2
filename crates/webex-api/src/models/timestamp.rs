//! Lenient RFC 3339 timestamps: a malformed date becomes `None` instead of failing the object.

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Serde `with` module for `Option<OffsetDateTime>` fields.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value.and_then(|v| v.format(&Rfc3339).ok()) {
            Some(text) => serializer.serialize_some(&text),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let raw = Option::<serde_json::Value>::deserialize(deserializer)?;
        Ok(match raw {
            Some(serde_json::Value::String(text)) => parse(&text),
            _ => None,
        })
    }
}

/// Parses an RFC 3339 timestamp such as `2015-10-18T14:26:16.000Z`.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_webex_timestamps() {
        let t = super::parse("2015-10-18T14:26:16.000Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_445_178_376);
        assert!(super::parse("yesterday").is_none());
    }
}
