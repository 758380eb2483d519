//! The study's charts over time — action execution rate, job execution rate, execution delay
//! p95 and runs in flight — as one PNG of four panels, drawn with plotters.
//!
//! Text is drawn with a system TrueType font (DejaVu Sans, Debian's fonts-dejavu-core) through
//! ab_glyph, which keeps font-kit and fontconfig out of the build.

use super::measure::Sample;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Where the font is looked for, first found wins.
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONTS
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| {
                    format!(
                        "charts need the DejaVu Sans font (apt install fonts-dejavu-core); looked in {}",
                        FONTS.join(", ")
                    )
                })?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak())
                .map_err(|_| "DejaVuSans.ttf is not a font plotters can read".to_string())
        })
        .clone()
}

/// One panel: a title, a y-axis label and a value per sample (None: no point).
struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    value: fn(&Sample) -> Option<f64>,
    color: RGBColor,
}

const PANELS: [Panel<'static>; 4] = [
    Panel {
        title: "Action execution rate",
        unit: "actions/min",
        value: |s| Some(s.actions_per_min),
        color: RGBColor(0, 114, 198),
    },
    Panel {
        title: "Job execution rate",
        unit: "jobs/min",
        value: |s| Some(s.jobs_per_min),
        color: RGBColor(16, 124, 16),
    },
    Panel {
        title: "Execution delay p95",
        unit: "µs",
        value: |s| s.delay_p95_ms.map(|ms| ms * 1e3),
        color: RGBColor(216, 59, 1),
    },
    Panel {
        title: "Runs in flight",
        unit: "runs",
        value: |s| Some(s.in_flight as f64),
        color: RGBColor(92, 45, 145),
    },
];

/// Draws the four panels of `samples` to `path` (PNG), titled `title`.
pub fn draw(path: &Path, title: &str, samples: &[Sample]) -> Result<(), String> {
    register_font()?;
    let root = BitMapBackend::new(path, (1000, 1400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let t_max = samples.last().map_or(1.0, |s| s.t).max(1.0);
    for (area, panel) in root.split_evenly((4, 1)).iter().zip(PANELS.iter()) {
        draw_panel(area, panel, samples, t_max).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area<'_>,
    panel: &Panel<'_>,
    samples: &[Sample],
    t_max: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| (panel.value)(s).map(|v| (s.t, v)))
        .collect();
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(panel.unit)
        .y_label_formatter(&|v| human(*v))
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(LineSeries::new(points, panel.color.stroke_width(2)))?;
    Ok(())
}

/// As the status line's [`crate::commands::run::human`], with a decimal below 10 (axis ticks in µs).
pub fn human(x: f64) -> String {
    if x != 0.0 && x.abs() < 10.0 {
        format!("{x:.1}")
    } else {
        crate::commands::run::human(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png() {
        let samples: Vec<Sample> = (0..30)
            .map(|i| Sample {
                t: i as f64,
                events_in: i * 100,
                runs_started: i * 100,
                runs_completed: i * 90,
                in_flight: 10,
                events_per_min: 6000.0,
                actions_per_min: 150_000.0 + i as f64,
                jobs_per_min: 200_000.0,
                delay_p95_ms: (i % 3 != 0).then_some(2.5),
                cpu_percent: 150.0,
                rss_mb: 100.0,
            })
            .collect();
        let path = std::env::temp_dir().join(format!("sluice-chart-{}.png", std::process::id()));
        draw(&path, "test", &samples).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        let _ = std::fs::remove_file(&path);
        assert_eq!(human(180_000.0), "180.0K");
    }
}
