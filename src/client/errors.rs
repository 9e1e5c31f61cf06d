//! Error details for records: whatever the server or the socket said, reduced to one short
//! line (a JSON `error.message`, an HTML page's title, an error and its causes).

/// `error_detail` is one line of at most 300 characters, whatever the server sent.
pub(crate) fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(300));
    for (i, w) in msg.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
        if out.len() >= 300 {
            break;
        }
    }
    let cut: String = out.chars().take(300).collect();
    cut.trim_end().to_string()
}

/// An error and its causes on one line: hyper's "connection error" alone does not say whether
/// the peer reset the connection or closed it.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// The readable text of an HTML error page: its `<title>`, else the text between the tags.
pub(crate) fn html_text(s: &str) -> Option<String> {
    let lower = s.trim_start().chars().take(16).collect::<String>().to_ascii_lowercase();
    if !(lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.starts_with("<head")) {
        return None;
    }
    let lower_all = s.to_ascii_lowercase();
    if let (Some(a), Some(b)) = (lower_all.find("<title>"), lower_all.find("</title>")) {
        if let Some(t) = s.get(a + 7..b).filter(|t| !t.trim().is_empty()) {
            return Some(t.to_string());
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Some(out)
}

/// A short, single-line description of an error body (JSON `error.message`, an HTML page's
/// title, or the text).
pub(crate) fn error_detail_of(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Some(m) = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())
        {
            return m.chars().take(200).collect();
        }
    }
    let s = String::from_utf8_lossy(bytes);
    let s = html_text(&s).map_or(s, std::borrow::Cow::Owned);
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_one_short_line() {
        assert_eq!(
            error_detail_of(br#"{"error":{"message":"too many requests","code":429}}"#),
            "too many requests"
        );
        let page = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n<body><h1>down</h1></body></html>";
        assert_eq!(error_detail_of(page), "503 Service Unavailable");
        assert_eq!(
            error_detail_of(b"<html><body><h1>Bad\n gateway</h1><p>nginx</p></body></html>"),
            "Bad gateway nginx"
        );
        assert_eq!(error_detail_of(b"plain\n  text"), "plain text");
        assert_eq!(error_detail_of("<html><title>é</title>".as_bytes()), "é");
    }

    #[test]
    fn details_are_one_line() {
        assert_eq!(one_line("a\n  b\r\n\tc "), "a b c");
        assert_eq!(one_line(&"x ".repeat(1000)).len(), 299);
        assert_eq!(one_line(&"é".repeat(1000)).chars().count(), 300);
    }

    #[test]
    fn error_chain_names_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connection error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(error_chain(&Outer(io)), "connection error: connection reset by peer");
    }
}
