//! The run configuration section (from `summary.run`, with the command line quoted for a
//! shell) and the glossary of every definition in `summary.definitions`.

use super::{escape_html, flatten, kv_table};
use crate::report::Summary;
use serde_json::Value;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary, raw: &Value) {
    // Configuration
    let mut rows = Vec::new();
    if let Some(run) = raw.get("run") {
        let mut r = run.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("command");
        }
        flatten("", &r, &mut rows);
    }
    rows.push(("tool".into(), s.tool.clone()));
    rows.push(("schema_version".into(), s.schema_version.to_string()));
    let _ = write!(
        out,
        "<section id=\"config\"><h2>Run configuration</h2>{}<h3 style=\"margin-top:10px\">Command line</h3><div class=\"cmd mono\">{}</div></section>",
        kv_table(&rows),
        escape_html(&shell_join(&s.run.command))
    );
}

/// The glossary: every definition of `summary.definitions`, each an anchor the headline
/// table links to.
pub(super) fn glossary(out: &mut String, s: &Summary) {
    let defs = &s.definitions;
    // Glossary
    out.push_str("<section id=\"glossary\"><h2>Glossary</h2><dl class=\"gloss\">");
    for (k, v) in defs {
        let _ = write!(
            out,
            "<dt id=\"def-{}\">{}</dt><dd>{}</dd>",
            escape_html(k),
            escape_html(k),
            escape_html(v)
        );
    }
    out.push_str("<dt id=\"def-tokens_per_chunk\">tokens_per_chunk</dt><dd>tokens carried by each token-bearing streamed event</dd></dl></section>");
}

fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_join_quotes() {
        assert_eq!(
            shell_join(&["a".into(), "b c".into(), "it's".into()]),
            "a 'b c' 'it'\\''s'"
        );
    }
}
