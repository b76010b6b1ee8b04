//! Small SVG charts as yew components: plain markup, no canvas, readable by screen readers
//! through their titles.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct BarChartProps {
    /// (label, value in 0..=1)
    pub bars: Vec<(String, f64)>,
    pub title: String,
}

#[function_component(BarChart)]
pub fn bar_chart(p: &BarChartProps) -> Html {
    let row = 26.0;
    let (label_w, bar_w) = (230.0, 300.0);
    let height = row * p.bars.len() as f64 + 10.0;
    html! {
        <svg class="chart" viewBox={format!("0 0 {} {height}", label_w + bar_w + 60.0)} role="img" aria-label={p.title.clone()}>
            <title>{ &p.title }</title>
            { for p.bars.iter().enumerate().map(|(i, (label, v))| {
                let y = 5.0 + i as f64 * row;
                let w = (v.clamp(0.0, 1.0) * bar_w).max(1.0);
                html! {
                    <g>
                        <text x={(label_w - 8.0).to_string()} y={(y + 16.0).to_string()} text-anchor="end" class="chart-label">{ label }</text>
                        <rect x={label_w.to_string()} y={(y + 3.0).to_string()} width={w.to_string()} height={(row - 8.0).to_string()} class="bar" />
                        <text x={(label_w + w + 6.0).to_string()} y={(y + 16.0).to_string()} class="chart-value">{ format!("{v:.3}") }</text>
                    </g>
                }
            }) }
        </svg>
    }
}

#[derive(Properties, PartialEq)]
pub struct LineChartProps {
    /// x values (e.g. dims)
    pub xs: Vec<usize>,
    /// (series name, y per x)
    pub series: Vec<(String, Vec<f64>)>,
    pub title: String,
    pub x_label: String,
}

const COLORS: [&str; 8] = ["#2f5bea", "#13795b", "#b54708", "#9e3bd6", "#b42318", "#0e7490", "#6b7280", "#a16207"];

#[function_component(LineChart)]
pub fn line_chart(p: &LineChartProps) -> Html {
    let (w, h, left, bottom, top) = (520.0, 220.0, 40.0, 30.0, 10.0);
    let plot_w = w - left - 10.0;
    let plot_h = h - bottom - top;
    let n = p.xs.len().max(2) as f64 - 1.0;
    // Evenly spaced x positions: Matryoshka dims grow geometrically.
    let x = |i: usize| left + plot_w * i as f64 / n;
    let y = |v: f64| top + plot_h * (1.0 - v.clamp(0.0, 1.0));
    html! {
        <figure class="chart-figure">
            <svg class="chart" viewBox={format!("0 0 {w} {h}")} role="img" aria-label={p.title.clone()}>
                <title>{ &p.title }</title>
                { for [0.0, 0.25, 0.5, 0.75, 1.0].iter().map(|v| html! {
                    <g>
                        <line x1={left.to_string()} x2={(w - 10.0).to_string()} y1={y(*v).to_string()} y2={y(*v).to_string()} class="grid" />
                        <text x={(left - 4.0).to_string()} y={(y(*v) + 4.0).to_string()} text-anchor="end" class="chart-value">{ format!("{v:.2}") }</text>
                    </g>
                }) }
                { for p.xs.iter().enumerate().map(|(i, d)| html! {
                    <text x={x(i).to_string()} y={(h - 10.0).to_string()} text-anchor="middle" class="chart-value">{ d }</text>
                }) }
                { for p.series.iter().enumerate().map(|(s, (_, ys))| {
                    let points = ys.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect::<Vec<_>>().join(" ");
                    html! { <polyline points={points} fill="none" stroke={COLORS[s % COLORS.len()]} stroke-width="2" /> }
                }) }
            </svg>
            <figcaption>
                { format!("{} (x: {})", p.title, p.x_label) }
                { for p.series.iter().enumerate().map(|(s, (name, _))| html! {
                    <span class="legend"><span class="swatch" style={format!("background:{}", COLORS[s % COLORS.len()])}></span>{ name }</span>
                }) }
            </figcaption>
        </figure>
    }
}

#[derive(Properties, PartialEq)]
pub struct HeatmapProps {
    /// Row-major `rows × cols` values in 0..=1 (darker is larger).
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    /// Row and column labels (tokens), or none.
    #[prop_or_default]
    pub labels: Vec<String>,
    pub title: String,
}

/// A matrix as SVG cells; each cell's title gives its value.
#[function_component(Heatmap)]
pub fn heatmap(p: &HeatmapProps) -> Html {
    let cell = if p.cols > 24 { 10.0 } else { 18.0 };
    let margin = if p.labels.is_empty() { 2.0 } else { 70.0 };
    let size = |n: usize| margin + cell * n as f64 + 2.0;
    html! {
        <svg class="heatmap" viewBox={format!("0 0 {} {}", size(p.cols), size(p.rows))} role="img" aria-label={p.title.clone()}
             width={size(p.cols).to_string()}>
            <title>{ &p.title }</title>
            { for p.labels.iter().enumerate().take(p.rows).map(|(i, l)| html! {
                <text x={(margin - 4.0).to_string()} y={(margin + cell * i as f64 + cell * 0.72).to_string()} text-anchor="end" class="heat-label">{ l }</text> }) }
            { for p.labels.iter().enumerate().take(p.cols).map(|(j, l)| {
                let x = margin + cell * j as f64 + cell * 0.7;
                html! { <text x={x.to_string()} y={(margin - 4.0).to_string()} transform={format!("rotate(-60 {x} {})", margin - 4.0)} class="heat-label">{ l }</text> }
            }) }
            { for p.values.iter().enumerate().take(p.rows * p.cols).map(|(k, v)| {
                let (i, j) = (k / p.cols, k % p.cols);
                html! { <rect x={(margin + cell * j as f64).to_string()} y={(margin + cell * i as f64).to_string()}
                    width={(cell - 1.0).to_string()} height={(cell - 1.0).to_string()} class="heat-cell"
                    fill-opacity={format!("{:.3}", v.clamp(0.0, 1.0).max(0.02))}><title>{ format!("{v:.3}") }</title></rect> }
            }) }
        </svg>
    }
}

#[derive(Properties, PartialEq)]
pub struct ScatterProps {
    /// (x, y, class, tooltip) per point.
    pub points: Vec<(f32, f32, String, String)>,
    /// Index pairs of points to join with a line.
    #[prop_or_default]
    pub links: Vec<(usize, usize)>,
    pub title: String,
}

#[function_component(Scatter)]
pub fn scatter(p: &ScatterProps) -> Html {
    let (w, h, pad) = (560.0f32, 380.0f32, 14.0f32);
    let range = |f: fn(&(f32, f32, String, String)) -> f32| {
        let lo = p.points.iter().map(f).fold(f32::INFINITY, f32::min);
        let hi = p.points.iter().map(f).fold(f32::NEG_INFINITY, f32::max);
        (lo, (hi - lo).max(1e-6))
    };
    let ((x0, xs), (y0, ys)) = (range(|q| q.0), range(|q| q.1));
    let at = |q: &(f32, f32, String, String)| {
        (pad + (q.0 - x0) / xs * (w - 2.0 * pad), h - pad - (q.1 - y0) / ys * (h - 2.0 * pad))
    };
    html! {
        <svg class="chart scatter" viewBox={format!("0 0 {w} {h}")} role="img" aria-label={p.title.clone()}>
            <title>{ &p.title }</title>
            <rect x="0" y="0" width={w.to_string()} height={h.to_string()} class="scatter-bg" />
            { for p.links.iter().filter(|(a, b)| *a < p.points.len() && *b < p.points.len()).map(|&(a, b)| {
                let ((x1, y1), (x2, y2)) = (at(&p.points[a]), at(&p.points[b]));
                html! { <line x1={x1.to_string()} y1={y1.to_string()} x2={x2.to_string()} y2={y2.to_string()} class="link" /> }
            }) }
            { for p.points.iter().map(|q| {
                let (x, y) = at(q);
                html! { <circle cx={x.to_string()} cy={y.to_string()} r="4" class={q.2.clone()}><title>{ &q.3 }</title></circle> }
            }) }
        </svg>
    }
}

#[derive(Properties, PartialEq)]
pub struct HistogramProps {
    pub bins: Vec<u32>,
    pub lo: f32,
    pub hi: f32,
    pub title: String,
}

/// Vertical bars over equal bins of [lo, hi], with the range written under the axis.
#[function_component(Histogram)]
pub fn histogram(p: &HistogramProps) -> Html {
    let (w, h, base) = (300.0f64, 130.0f64, 110.0f64);
    let max = p.bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = w / p.bins.len().max(1) as f64;
    html! {
        <svg class="chart histogram" viewBox={format!("0 0 {w} {h}")} role="img" aria-label={p.title.clone()}>
            <title>{ &p.title }</title>
            { for p.bins.iter().enumerate().map(|(i, c)| {
                let bh = (*c as f64 / max * (base - 6.0)).max(if *c > 0 { 1.0 } else { 0.0 });
                html! { <rect x={(i as f64 * bw).to_string()} y={(base - bh).to_string()} width={(bw - 0.5).to_string()} height={bh.to_string()} class="bar"><title>{ c }</title></rect> }
            }) }
            <line x1="0" y1={base.to_string()} x2={w.to_string()} y2={base.to_string()} class="grid" />
            <text x="0" y={(h - 4.0).to_string()} class="chart-label">{ format!("{:.2e}", p.lo) }</text>
            <text x={(w / 2.0).to_string()} y={(h - 4.0).to_string()} text-anchor="middle" class="chart-label">{ "0" }</text>
            <text x={w.to_string()} y={(h - 4.0).to_string()} text-anchor="end" class="chart-label">{ format!("{:.2e}", p.hi) }</text>
        </svg>
    }
}
