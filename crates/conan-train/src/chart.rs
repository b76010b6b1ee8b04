//! The loss curve saved next to the model card (plotters, SVG).

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::train::StepLog;

/// Smoothed total and contrastive loss per step, with the stage boundary marked.
pub fn loss_curve(log: &[StepLog], weak_steps: usize, out: &Path) -> Result<()> {
    let smooth = |f: fn(&StepLog) -> f32| -> Vec<(f64, f64)> {
        let mut ema = None;
        log.iter()
            .map(|s| {
                let v = f(s) as f64;
                let e = ema.map_or(v, |p: f64| 0.95 * p + 0.05 * v);
                ema = Some(e);
                (s.step as f64, e)
            })
            .collect()
    };
    let total = smooth(|s| s.loss);
    let nce = smooth(|s| s.contrastive);
    let top = total.iter().chain(&nce).map(|p| p.1).fold(0.0, f64::max) * 1.05;
    let steps = log.len().max(1) as f64;

    let root = SVGBackend::new(out, (720, 360)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", out.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("conan-mini training loss (EMA 0.95)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..steps, 0f64..top.max(1e-3))
        .map_err(|e| err(&e))?;
    chart.configure_mesh().x_desc("step").y_desc("loss").draw().map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(total, &BLUE))
        .map_err(|e| err(&e))?
        .label("total")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(LineSeries::new(nce, &RED))
        .map_err(|e| err(&e))?
        .label("InfoNCE")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    let boundary = weak_steps as f64;
    chart
        .draw_series(LineSeries::new([(boundary, 0.0), (boundary, top)], BLACK.mix(0.4)))
        .map_err(|e| err(&e))?
        .label("weak → supervised")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
