//! The token accounting section: input/output totals and their provenance (server `usage`
//! or client tokenizer), cached and reasoning tokens, and how far the counts disagree.

use super::kv_table;
use crate::report::Summary;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    // Token accounting
    let tk = &m.tokens;
    let rows = vec![
        (
            "input tokens".to_string(),
            format!(
                "{} ({} of {} requests server-reported)",
                tk.input, tk.input_from_server, m.requests.succeeded
            ),
        ),
        (
            "output tokens".to_string(),
            format!("{} ({} server-reported)", tk.output, tk.output_from_server),
        ),
        ("cached tokens".to_string(), tk.cached.to_string()),
        ("reasoning tokens".to_string(), tk.reasoning.to_string()),
        (
            "output count: server vs client tokenizer".to_string(),
            format!(
                "{} of {} requests differ (Σ server − client = {})",
                tk.output_mismatched, tk.output_compared, tk.output_server_minus_client
            ),
        ),
        ("Σ event tokens − Σ OSL".to_string(), tk.event_sum_minus_osl.to_string()),
    ];
    let _ = write!(
        out,
        "<section id=\"tokens\"><h2>Token accounting</h2>{}</section>",
        kv_table(&rows)
    );
}
