//! Pagination links and origin checks.
//!
//! Webex pages lists with RFC 8288 `Link: <url>; rel="next"` headers
//! (<https://developer.webex.com/docs/basics#pagination>). The URL is opaque: we follow it as
//! given, with two guards: it must point at the configured API origin (the bearer token goes
//! with it), and it must keep `mentionedPeople` (bots may only list space messages that mention
//! them; a next link without it would be refused).

use url::Url;

use crate::error::{Error, Result};

/// Finds the `rel="next"` target among `Link` header values.
pub fn parse_next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values
        .into_iter()
        .flat_map(split_links)
        .find_map(|link| link_target_if_next(&link))
}

/// Splits one header value into link-values at commas outside `<...>` and quotes.
fn split_links(value: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut current = String::new();
    let (mut in_angle, mut in_quote) = (false, false);
    for c in value.chars() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                links.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    links.push(current);
    links
}

fn link_target_if_next(link: &str) -> Option<String> {
    let link = link.trim();
    let rest = link.strip_prefix('<')?;
    let (target, params) = rest.split_once('>')?;
    let is_next = params.split(';').any(|param| {
        let Some((key, value)) = param.split_once('=') else {
            return false;
        };
        key.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case("next"))
    });
    is_next.then(|| target.trim().to_string())
}

/// `scheme://host:port` of a URL (with the default port made explicit).
pub fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Whether `url` has the same scheme, host and port as `base`.
pub fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str().map(str::to_ascii_lowercase)
            == base.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == base.port_or_known_default()
}

/// Resolves a next link against the current URL, checks its origin and re-adds sticky query
/// parameters that the server dropped.
pub fn resolve_next(
    raw: &str,
    current: &Url,
    base: &Url,
    sticky: &[(String, String)],
) -> Result<Url> {
    let mut next = current
        .join(raw)
        .map_err(|e| Error::InvalidUrl(format!("bad Link URL: {e}")))?;
    if !same_origin(&next, base) {
        return Err(Error::ForeignHost {
            origin: origin(&next),
        });
    }
    let missing: Vec<&(String, String)> = sticky
        .iter()
        .filter(|(key, _)| !next.query_pairs().any(|(k, _)| k == key.as_str()))
        .collect();
    if !missing.is_empty() {
        let mut pairs = next.query_pairs_mut();
        for (key, value) in missing {
            pairs.append_pair(key, value);
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_several_links() {
        let header = r#"<https://webexapis.com/v1/messages?cursor=abc,def>; rel="prev", <https://webexapis.com/v1/messages?cursor=xyz>; rel="next""#;
        assert_eq!(
            parse_next_link([header]).as_deref(),
            Some("https://webexapis.com/v1/messages?cursor=xyz")
        );
    }

    #[test]
    fn accepts_unquoted_and_multi_valued_rel_and_several_headers() {
        assert_eq!(
            parse_next_link(["<https://a/x>; rel=first", "<https://a/y>;rel=next"]).as_deref(),
            Some("https://a/y")
        );
        assert_eq!(
            parse_next_link([r#"<https://a/z>; title="a, b"; rel="last NEXT""#]).as_deref(),
            Some("https://a/z")
        );
    }

    #[test]
    fn no_next_link() {
        assert_eq!(parse_next_link([r#"<https://a/x>; rel="prev""#]), None);
        assert_eq!(parse_next_link(["garbage"]), None);
        assert_eq!(parse_next_link(Vec::<&str>::new()), None);
    }

    #[test]
    fn next_link_keeps_mentioned_people_and_origin() {
        let base = Url::parse("https://webexapis.com/v1").unwrap();
        let current =
            Url::parse("https://webexapis.com/v1/messages?roomId=r&mentionedPeople=me").unwrap();
        let sticky = vec![("mentionedPeople".to_string(), "me".to_string())];
        let next = resolve_next(
            "https://webexapis.com:443/v1/messages?roomId=r&cursor=c",
            &current,
            &base,
            &sticky,
        )
        .unwrap();
        assert_eq!(
            next.as_str(),
            "https://webexapis.com/v1/messages?roomId=r&cursor=c&mentionedPeople=me"
        );
        let kept = resolve_next(
            "/v1/messages?mentionedPeople=me&c=1",
            &current,
            &base,
            &sticky,
        )
        .unwrap();
        assert_eq!(kept.query(), Some("mentionedPeople=me&c=1"));
    }

    #[test]
    fn foreign_next_links_are_refused() {
        let base = Url::parse("https://webexapis.com/v1").unwrap();
        let current = Url::parse("https://webexapis.com/v1/rooms").unwrap();
        for foreign in [
            "https://evil.example/v1/rooms?cursor=1",
            "http://webexapis.com/v1/rooms?cursor=1",
            "https://webexapis.com:8443/v1/rooms?cursor=1",
        ] {
            let err = resolve_next(foreign, &current, &base, &[]).unwrap_err();
            assert!(matches!(err, Error::ForeignHost { .. }), "{foreign}: {err}");
        }
    }
}
