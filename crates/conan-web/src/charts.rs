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
