//! The errors section: failed requests by class, the most frequent error details (server text,
//! escaped), and the finish reasons of the successful requests.

use super::{escape_html, kv_table};
use crate::record::RequestRecord;
use crate::report::Summary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary, records: &[RequestRecord]) {
    let m = &s.metrics;
    // Errors and finish reasons
    out.push_str("<section id=\"errors\"><h2>Errors and finish reasons</h2>");
    if m.errors.is_empty() {
        out.push_str("<p>No failed requests.</p>");
    } else {
        let rows: Vec<_> = m.errors.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        out.push_str(&kv_table(&rows));
        let mut details: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for r in records.iter().filter(|r| !r.warmup) {
            if let (Some(e), Some(d)) = (r.error, r.error_detail.as_deref()) {
                *details.entry((e.as_str(), d)).or_insert(0) += 1;
            }
        }
        let mut details: Vec<_> = details.into_iter().collect();
        details.sort_by_key(|d| std::cmp::Reverse(d.1));
        out.push_str("<h3 style=\"margin-top:10px\">Most frequent error details</h3><table><thead><tr><th>class</th><th class=\"l\">detail</th><th>requests</th></tr></thead><tbody>");
        for ((class, detail), n) in details.into_iter().take(10) {
            let short: String = detail.chars().take(300).collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"l mono\">{}</td><td>{n}</td></tr>",
                escape_html(class),
                escape_html(&short)
            );
        }
        out.push_str("</tbody></table>");
    }
    let mut finish: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.warmup && r.ok()) {
        *finish
            .entry(r.finish_reason.as_deref().unwrap_or("(none)"))
            .or_insert(0) += 1;
    }
    if !finish.is_empty() {
        let rows: Vec<_> = finish
            .iter()
            .map(|(k, v)| (format!("finish_reason {k}"), v.to_string()))
            .collect();
        out.push_str(&kv_table(&rows));
    }
    out.push_str("</section>");
}
