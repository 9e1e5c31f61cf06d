//! The client self-health section: was the load generator itself the bottleneck? Rates,
//! schedule lag, CPU, runtime probe, socket read lag and the verdict of `metrics::health`.

use super::{escape_html, f2, kv_table};
use crate::report::Summary;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary) {
    // Client self-health
    let c = &s.client;
    out.push_str("<section id=\"client\"><h2>Client self-health</h2>");
    if c.saturated {
        let _ = write!(
            out,
            "<div class=\"warn\"><b>WARNING — the client may be the bottleneck:</b> {}</div>",
            escape_html(c.saturated_reason.as_deref().unwrap_or(""))
        );
    } else {
        out.push_str("<div class=\"okay\">Not saturated: schedule lag, achieved rate, runtime responsiveness and CPU are within limits.</div>");
    }
    let opt = |v: Option<f64>, unit: &str| v.map(|x| format!("{} {unit}", f2(x))).unwrap_or_else(|| "n/a".into());
    let rows = vec![
        ("offered rate".to_string(), opt(c.offered_rate, "req/s")),
        ("scheduled rate".to_string(), opt(c.scheduled_rate, "req/s")),
        ("achieved rate".to_string(), opt(c.achieved_rate, "req/s")),
        (
            "schedule lag p50 / p99 / max".to_string(),
            format!(
                "{} / {} / {} ms",
                f2(c.schedule_lag_ms.p50),
                f2(c.schedule_lag_ms.p99),
                f2(c.schedule_lag_ms.max)
            ),
        ),
        (
            "CPU".to_string(),
            match (c.cpu_s, c.cpu_utilization) {
                (Some(s), Some(u)) => format!(
                    "{s:.2} s, {:.0}% of {} cores{}",
                    u * 100.0,
                    c.cores,
                    if c.includes_embedded_server {
                        " (includes the embedded server)"
                    } else {
                        ""
                    }
                ),
                _ => "n/a (not recorded, e.g. rebuilt by infermeter report)".into(),
            },
        ),
        (
            "runtime probe lateness p99".to_string(),
            if c.runtime_probe_lateness_ms.n > 0 {
                format!("{} ms", f2(c.runtime_probe_lateness_ms.p99))
            } else {
                "n/a".into()
            },
        ),
        (
            "socket read lag p50 / p99 / max".to_string(),
            match &c.read_lag_ms {
                Some(l) => format!(
                    "{} / {} / {} ms ({} arrival stamps; {} token events shared a late read)",
                    f2(l.p50),
                    f2(l.p99),
                    f2(l.max),
                    match c.rx_timestamp {
                        Some(crate::arrival::RxTimestamp::User) => "read-return",
                        _ => "kernel",
                    },
                    l.late_shared_stamps
                ),
                None => "n/a (no kernel receive stamps)".into(),
            },
        ),
        ("peak in flight".to_string(), c.peak_in_flight.to_string()),
        (
            "verdict".to_string(),
            if c.saturated {
                "SATURATED".into()
            } else {
                "not saturated".into()
            },
        ),
    ];
    out.push_str(&kv_table(&rows));
    out.push_str("</section>");
}
