//! `--allow-origin` values: checked before they reach a response header, where a CR LF would
//! split the headers and a non-ASCII byte cannot be written at all.

use anyhow::{Result, anyhow};
use url::Url;

/// The ASCII serialisation of an http(s) origin (`https://example.org:8443`), or why `text`
/// is not one.
pub fn parse_origin(text: &str) -> Result<String> {
    let bad = |why: &str| anyhow!("--allow-origin {text:?} is not an origin like https://example.org: {why}");
    if !text.is_ascii() {
        return Err(bad("write it in ASCII (an international domain in its xn-- form)"));
    }
    if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad("it holds a space or a control character"));
    }
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it may not name a user or password"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("nothing may follow the host and port"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_plain_ascii_http_origins() {
        assert_eq!(parse_origin("https://example.org").unwrap(), "https://example.org");
        assert_eq!(parse_origin("https://Example.org:8443/").unwrap(), "https://example.org:8443");
        assert_eq!(parse_origin("http://127.0.0.1:9000").unwrap(), "http://127.0.0.1:9000");
        for bad in [
            "https://exämple.org",
            "https://a.org\r\nSet-Cookie: x=1",
            "https://a.org/models",
            "https://a.org/?q=1",
            "https://user:pw@a.org",
            "ftp://a.org",
            "example.org",
            "https://a.org; script-src *",
            "",
        ] {
            let err = parse_origin(bad).unwrap_err().to_string();
            assert!(err.starts_with("--allow-origin"), "{bad:?}: {err}");
        }
    }
}
