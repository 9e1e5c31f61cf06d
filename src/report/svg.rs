//! Small, dependency-free chart primitives rendered as inline SVG strings: line, step,
//! scatter and bar series on linear axes with "nice" ticks, grid, axis labels, a legend,
//! shaded x-bands (e.g. a steady-state window) and labelled markers. Every data point that
//! is drawn as a shape carries a `<title>` child, which browsers show as a tooltip.
//!
//! Every piece of text that reaches the SVG goes through [`escape_html`]; charts never
//! contain scripts. Rendering is pure: same chart, same string.

use std::fmt::Write as _;

/// Escape text for HTML/SVG element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML (inline SVG); show them as U+FFFD.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Colours of successive series (colour-blind-friendly-ish, readable on white).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const W: f64 = 640.0;
const H: f64 = 300.0;
const ML: f64 = 64.0;
const MR: f64 = 18.0;
const MT: f64 = 30.0;
const MB: f64 = 44.0;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Straight segments between points (points sorted by x).
    Line,
    /// Horizontal-then-vertical segments: the value holds until the next point.
    Step,
    /// One dot per point, each with its tooltip.
    Points,
    /// One bar per point centred on x, `width` in data units.
    Bars { width: f64 },
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub kind: Kind,
    pub points: Vec<(f64, f64)>,
    /// Tooltip per point (empty: a default "x, y" tooltip for dots and bars).
    pub tips: Vec<String>,
    /// Palette index override (otherwise the series' position).
    pub color: Option<usize>,
    /// Draw a dashed line.
    pub dashed: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, kind: Kind, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            kind,
            points,
            tips: Vec::new(),
            color: None,
            dashed: false,
        }
    }
    pub fn tips(mut self, tips: Vec<String>) -> Self {
        self.tips = tips;
        self
    }
    pub fn color(mut self, c: usize) -> Self {
        self.color = Some(c);
        self
    }
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// A labelled point drawn over the series (e.g. a saturation point).
#[derive(Debug, Clone)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub color: &'static str,
}

/// A shaded x-range (e.g. the steady-state window).
#[derive(Debug, Clone)]
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
}

#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Element id of the `<svg>` (stable, used by tests and links).
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    pub bands: Vec<Band>,
    /// Include y = 0 in the y range (default for most charts).
    pub y_zero: bool,
    /// Include x = 0 in the x range (ignored on a log axis).
    pub x_zero: bool,
    /// Logarithmic x axis (non-positive x values are not drawn).
    pub x_log: bool,
    /// Fixed x range (linear axes only), e.g. to align the time series of one run.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range (e.g. 0..1 for CDFs and attainment).
    pub y_range: Option<(f64, f64)>,
}

impl Chart {
    pub fn new(id: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Chart {
            id: id.to_string(),
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            y_zero: true,
            ..Default::default()
        }
    }
}

/// A round step (1, 2, 2.5 or 5 × 10^k) giving about `target` intervals over `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Tick values: multiples of a nice step covering `[lo, hi]` (the range is widened to them).
pub fn ticks(lo: f64, hi: f64, target: usize) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1)
    };
    let step = nice_step(hi - lo, target);
    let a = (lo / step).floor() * step;
    let b = (hi / step).ceil() * step;
    let n = ((b - a) / step).round() as usize;
    let v = (0..=n.min(50)).map(|i| a + step * i as f64).collect();
    (a, b, v)
}

/// A number for a label: few digits, no trailing noise.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        trim(format!("{v:.1}"))
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.3}"))
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn color_of(s: &Series, i: usize) -> &'static str {
    PALETTE[s.color.unwrap_or(i) % PALETTE.len()]
}

/// Render one chart as a standalone `<svg>` element (scales to its container's width).
pub fn render(c: &Chart) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="{}" class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape_html(&c.id),
        escape_html(&c.title),
        escape_html(&c.title)
    );
    let Some((f, xt, yt)) = Frame::fit(c) else {
        let _ = write!(
            out,
            r#"<text class="nodata" x="{}" y="{}" text-anchor="middle">no data</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return out;
    };
    draw_bands(&mut out, c, &f);
    draw_axes(&mut out, c, &f, &xt, &yt);
    for (i, s) in c.series.iter().enumerate() {
        draw_series(&mut out, s, i, &f);
    }
    draw_markers(&mut out, c, &f);
    draw_legend(&mut out, c);
    out.push_str("</svg>");
    out
}

/// The plot's coordinate frame: the axis ranges (x on a log₁₀ scale for `x_log` charts) and
/// the mapping of data to SVG coordinates.
struct Frame {
    log: bool,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    pw: f64,
    ph: f64,
}

impl Frame {
    /// The x value on the axis scale (log₁₀ for a log axis; NaN where it has no place).
    fn tx(&self, x: f64) -> f64 {
        tx(self.log, x)
    }
    /// SVG x of a data value.
    fn sx(&self, x: f64) -> f64 {
        ML + (self.tx(x) - self.x0) / (self.x1 - self.x0) * self.pw
    }
    /// SVG x of a position already on the axis scale (a tick).
    fn sxt(&self, t: f64) -> f64 {
        ML + (t - self.x0) / (self.x1 - self.x0) * self.pw
    }
    fn sy(&self, y: f64) -> f64 {
        MT + self.ph - (y - self.y0) / (self.y1 - self.y0) * self.ph
    }

    /// Fit the frame to every drawable point, bar edge, marker and band of the chart, with its
    /// ticks: x as (position on the axis scale, value shown), y as values. `None` without
    /// data.
    #[allow(clippy::type_complexity)]
    fn fit(c: &Chart) -> Option<(Frame, Vec<(f64, f64)>, Vec<f64>)> {
        let log = c.x_log;
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        for s in &c.series {
            for &(x, y) in &s.points {
                if tx(log, x).is_finite() && y.is_finite() {
                    xs.push(tx(log, x));
                    ys.push(y);
                    if let (Kind::Bars { width }, false) = (s.kind, log) {
                        xs.push(x - width / 2.0);
                        xs.push(x + width / 2.0);
                    }
                }
            }
        }
        for m in &c.markers {
            if tx(log, m.x).is_finite() && m.y.is_finite() {
                xs.push(tx(log, m.x));
                ys.push(m.y);
            }
        }
        if xs.is_empty() {
            return None;
        }
        let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
        let (mut x0, mut x1) = (
            fold(&xs, f64::min, f64::INFINITY),
            fold(&xs, f64::max, f64::NEG_INFINITY),
        );
        for b in &c.bands {
            if tx(log, b.x0).is_finite() && tx(log, b.x1).is_finite() {
                x0 = x0.min(tx(log, b.x0));
                x1 = x1.max(tx(log, b.x1));
            }
        }
        if let (Some((a, b)), false) = (c.x_range, log) {
            x0 = a;
            x1 = b;
        }
        if c.x_zero && !log {
            x0 = x0.min(0.0);
        }
        let (mut y0, mut y1) = (
            fold(&ys, f64::min, f64::INFINITY),
            fold(&ys, f64::max, f64::NEG_INFINITY),
        );
        if c.y_zero {
            y0 = y0.min(0.0);
            y1 = y1.max(0.0);
        }
        let (x0, x1, xt): (f64, f64, Vec<(f64, f64)>) = if log {
            let (a, b) = (x0.floor(), x1.ceil().max(x0.floor() + 1.0));
            let mut t = Vec::new();
            for d in (a as i32)..=(b as i32) {
                for m in [1.0, 2.0, 5.0] {
                    let v = m * 10f64.powi(d);
                    if v.log10() <= b + 1e-9 {
                        t.push((v.log10(), v));
                    }
                }
            }
            (a, b, t)
        } else {
            let (a, b, t) = ticks(x0, x1, 7);
            (a, b, t.into_iter().map(|v| (v, v)).collect())
        };
        let (y0, y1, yt) = match c.y_range {
            Some((a, b)) => {
                let step = nice_step(b - a, 5);
                let n = ((b - a) / step).round() as usize;
                (a, b, (0..=n).map(|i| a + step * i as f64).collect())
            }
            None => ticks(y0, y1, 5),
        };
        let frame = Frame {
            log,
            x0,
            x1,
            y0,
            y1,
            pw: W - ML - MR,
            ph: H - MT - MB,
        };
        Some((frame, xt, yt))
    }
}

/// `x` on a log₁₀ axis (NaN for x ≤ 0), or `x` itself on a linear one.
fn tx(log: bool, x: f64) -> f64 {
    if log {
        if x > 0.0 {
            x.log10()
        } else {
            f64::NAN
        }
    } else {
        x
    }
}

/// Shaded x-bands with their labels (clipped to the plot).
fn draw_bands(out: &mut String, c: &Chart, f: &Frame) {
    for b in &c.bands {
        let (a, z) = (f.sx(b.x0).max(ML), f.sx(b.x1).min(ML + f.pw));
        if z > a {
            let _ = write!(
                out,
                r##"<rect class="band" x="{a:.1}" y="{MT}" width="{:.1}" height="{}" fill="#2ca02c" fill-opacity="0.12"><title>{}</title></rect>"##,
                z - a,
                f.ph,
                escape_html(&b.label)
            );
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#2a7a2a">{}</text>"##,
                a + 3.0,
                MT + 11.0,
                escape_html(&b.label)
            );
        }
    }
}

/// Grid lines, tick labels, axis labels and the plot border.
fn draw_axes(out: &mut String, c: &Chart, f: &Frame, xt: &[(f64, f64)], yt: &[f64]) {
    let (pw, ph) = (f.pw, f.ph);
    out.push_str(r##"<g class="grid" stroke="#e3e3e3" stroke-width="1">"##);
    for &t in yt {
        let _ = write!(
            out,
            r#"<line x1="{ML}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/>"#,
            ML + pw,
            y = f.sy(t)
        );
    }
    for &(t, _) in xt {
        let _ = write!(
            out,
            r#"<line y1="{MT}" y2="{:.1}" x1="{x:.1}" x2="{x:.1}"/>"#,
            MT + ph,
            x = f.sxt(t)
        );
    }
    out.push_str("</g>");
    out.push_str(r##"<g class="axis" font-size="11" fill="#444">"##);
    for &t in yt {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            ML - 6.0,
            f.sy(t) + 4.0,
            fmt_num(t)
        );
    }
    for &(t, v) in xt {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            f.sxt(t),
            MT + ph + 16.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        ML + pw / 2.0,
        H - 6.0,
        escape_html(&c.x_label)
    );
    let _ = write!(
        out,
        r#"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        MT + ph / 2.0,
        escape_html(&c.y_label)
    );
    out.push_str("</g>");
    let _ = write!(
        out,
        r##"<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##
    );
}

/// One series (the `i`-th, for its default colour), every drawn point with a tooltip.
fn draw_series(out: &mut String, s: &Series, i: usize, f: &Frame) {
    let col = color_of(s, i);
    let pts: Vec<(usize, f64, f64)> = s
        .points
        .iter()
        .enumerate()
        .filter(|(_, (x, y))| f.tx(*x).is_finite() && y.is_finite())
        .map(|(k, &(x, y))| (k, x, y))
        .collect();
    let tip = |k: usize, x: f64, y: f64| match s.tips.get(k) {
        Some(t) => escape_html(t),
        None => escape_html(&format!("{}: {}, {}", s.name, fmt_num(x), fmt_num(y))),
    };
    let _ = write!(out, r#"<g class="series" data-name="{}">"#, escape_html(&s.name));
    match s.kind {
        Kind::Line | Kind::Step => {
            let mut d = String::new();
            let mut prev: Option<f64> = None;
            for &(_, x, y) in &pts {
                let (px, py) = (f.sx(x), f.sy(y));
                match prev {
                    None => {
                        let _ = write!(d, "M{px:.1},{py:.1}");
                    }
                    Some(last_y) if s.kind == Kind::Step => {
                        let _ = write!(d, "L{px:.1},{last_y:.1}L{px:.1},{py:.1}");
                    }
                    Some(_) => {
                        let _ = write!(d, "L{px:.1},{py:.1}");
                    }
                }
                prev = Some(py);
            }
            let _ = write!(
                out,
                r#"<path class="line" d="{d}" fill="none" stroke="{col}" stroke-width="1.8"{}><title>{}</title></path>"#,
                if s.dashed { r#" stroke-dasharray="5,3""# } else { "" },
                escape_html(&s.name)
            );
            // Tooltipped dots only where the series has explicit tips (e.g. percentiles).
            for &(k, x, y) in &pts {
                if let Some(t) = s.tips.get(k).filter(|t| !t.is_empty()) {
                    let _ = write!(
                        out,
                        r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="3" fill="{col}"><title>{}</title></circle>"#,
                        f.sx(x),
                        f.sy(y),
                        escape_html(t)
                    );
                }
            }
        }
        Kind::Points => {
            for &(k, x, y) in &pts {
                let _ = write!(
                    out,
                    r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="2.2" fill="{col}" fill-opacity="0.6"><title>{}</title></circle>"#,
                    f.sx(x),
                    f.sy(y),
                    tip(k, x, y)
                );
            }
        }
        Kind::Bars { width } => {
            let base = f.sy(f.y0.max(0.0).min(f.y1));
            for &(k, x, y) in &pts {
                let (a, b) = (f.sx(x - width / 2.0), f.sx(x + width / 2.0));
                let top = f.sy(y);
                let _ = write!(
                    out,
                    r#"<rect class="pt" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{col}" fill-opacity="0.75"><title>{}</title></rect>"#,
                    a + 0.5,
                    top.min(base),
                    (b - a - 1.0).max(0.8),
                    (base - top).abs(),
                    tip(k, x, y)
                );
            }
        }
    }
    out.push_str("</g>");
}

/// Labelled diamond markers (e.g. the saturation and operating points).
fn draw_markers(out: &mut String, c: &Chart, f: &Frame) {
    for m in &c.markers {
        if !(f.tx(m.x).is_finite() && m.y.is_finite()) {
            continue;
        }
        let (px, py) = (f.sx(m.x), f.sy(m.y));
        let _ = write!(
            out,
            r##"<g class="marker"><path class="pt" d="M{px:.1},{:.1}L{:.1},{py:.1}L{px:.1},{:.1}L{:.1},{py:.1}Z" fill="{}" stroke="#222"><title>{}</title></path><text x="{:.1}" y="{:.1}" font-size="11" fill="#222">{}</text></g>"##,
            py - 7.0,
            px + 7.0,
            py + 7.0,
            px - 7.0,
            m.color,
            escape_html(&m.label),
            (px + 9.0).min(W - MR - 90.0),
            (py - 8.0).max(MT + 10.0),
            escape_html(&m.label)
        );
    }
}

/// The legend, only with more than one named series.
fn draw_legend(out: &mut String, c: &Chart) {
    if c.series.len() > 1 {
        let mut lx = ML + 4.0;
        for (i, s) in c.series.iter().enumerate() {
            let name = escape_html(&s.name);
            let _ = write!(
                out,
                r##"<g class="legend"><rect x="{lx:.1}" y="9" width="12" height="10" fill="{}"/><text x="{:.1}" y="18" font-size="11" fill="#333">{name}</text></g>"##,
                color_of(s, i),
                lx + 16.0
            );
            lx += 26.0 + 6.2 * s.name.chars().count() as f64;
        }
    }
}

/// Up to `max` points of the empirical CDF of `samples` (x = value, y = fraction ≤ x), with
/// tooltipped dots at p50, p90, p99 and p99.9.
pub fn cdf_series(name: &str, samples: &[f64], unit: &str, max: usize) -> Series {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    let mut pts = Vec::new();
    let mut tips = Vec::new();
    if n == 0 {
        return Series::new(name, Kind::Line, pts);
    }
    let stride = n.div_ceil(max.max(2));
    let marks = [0.5, 0.9, 0.99, 0.999];
    let mut marked = [false; 4];
    for i in (0..n).step_by(stride).chain(std::iter::once(n - 1)) {
        let f = (i + 1) as f64 / n as f64;
        if let Some(last) = pts.last() {
            if *last == (v[i], f) {
                continue;
            }
        }
        pts.push((v[i], f));
        let mut tip = String::new();
        for (m, done) in marks.iter().zip(marked.iter_mut()) {
            if !*done && f >= *m {
                *done = true;
                tip = format!("{name} p{}: {} {unit}", fmt_num(m * 100.0), fmt_num(v[i]));
            }
        }
        tips.push(tip);
    }
    Series::new(name, Kind::Step, pts).tips(tips)
}

/// Equal-width histogram of `samples` as bar points `(centre, count)` and the bin width.
/// Values above the p99.9 are folded into the last bin so one outlier does not flatten it.
/// Takes the samples by value and sorts them in place: a run's pooled per-token samples can
/// be millions long, and a copy would double the report's memory peak.
pub fn histogram(mut v: Vec<f32>, bins: usize) -> (Vec<(f64, f64)>, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() || bins == 0 {
        return (Vec::new(), 1.0);
    }
    v.sort_unstable_by(f32::total_cmp);
    let lo = f64::from(v[0]);
    let hi = crate::metrics::stats::percentile_sorted_f32(&v, 99.9).max(lo);
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0u64; bins];
    for &x in &v {
        let i = (((f64::from(x) - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let pts = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| (lo + width * (i as f64 + 0.5), c as f64))
        .collect();
    (pts, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_dangerous() {
        assert_eq!(
            escape_html("<script>alert(1)</script> & \"q\" 'a'"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(escape_html("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(1.0, 4), 0.25);
        let (a, b, t) = ticks(3.2, 97.0, 5);
        assert_eq!((a, b), (0.0, 100.0));
        assert_eq!(t.len(), 6);
        let (a, b, _) = ticks(5.0, 5.0, 5);
        assert!(a < 5.0 && b > 5.0);
        assert_eq!(fmt_num(2500.0), "2500");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(12_345.0), "12.3k");
        assert_eq!(fmt_num(20_000.0), "20k");
    }

    #[test]
    fn chart_has_points_tooltips_and_escapes() {
        let mut c = Chart::new("x<1>", "a & b", "x", "y");
        c.series
            .push(Series::new("<s>", Kind::Points, vec![(1.0, 2.0), (2.0, 3.0)]));
        c.series
            .push(Series::new("s2", Kind::Line, vec![(1.0, 1.0), (2.0, f64::NAN)]));
        c.bands.push(Band {
            x0: 1.2,
            x1: 1.8,
            label: "steady".into(),
        });
        let s = render(&c);
        assert_eq!(s.matches(r#"<circle class="pt""#).count(), 2);
        assert!(s.contains("&lt;s&gt;") && !s.contains("<s>"));
        assert!(s.contains(r#"id="x&lt;1&gt;""#));
        assert!(s.contains(r#"class="band""#));
        assert!(!render(&Chart::new("e", "empty", "x", "y")).contains("class=\"pt\""));
        let mut c = Chart::new("log", "log", "x", "y");
        c.x_log = true;
        c.series.push(Series::new(
            "s",
            Kind::Points,
            vec![(3.0, 1.0), (4000.0, 2.0), (0.0, 3.0)],
        ));
        let s = render(&c);
        assert_eq!(
            s.matches(r#"<circle class="pt""#).count(),
            2,
            "x = 0 is not drawn on a log axis"
        );
        assert!(s.contains(">1000<") && s.contains(">10k<"), "{s}");
    }

    #[test]
    fn cdf_and_histogram() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let s = cdf_series("ttft", &v, "ms", 100);
        assert!(s.points.len() <= 102);
        assert_eq!(s.points.last(), Some(&(1000.0, 1.0)));
        assert!(s.tips.iter().any(|t| t.contains("p50")));
        let (bars, w) = histogram(v.iter().map(|&x| x as f32).collect(), 10);
        assert_eq!(bars.len(), 10);
        assert!(w > 0.0);
        assert_eq!(bars.iter().map(|b| b.1).sum::<f64>(), 1000.0);
    }
}
