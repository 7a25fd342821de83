//! Line charts drawn: PNG and SVG with plotters, braille for the terminal. One model in
//! ([`crate::chart::Chart`]), drawn three ways.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::{Chart, Zone};
use crate::timespec::from_unix_seconds;

/// The font PNG text is drawn with (SVG text is left to the viewer's fonts).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Distinguishable colours (Okabe-Ito, then a few more).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

/// Tick times on round local times (every 5 minutes, hour, 6 hours, day ...): 4 to 9 of them.
pub(crate) fn time_ticks(start: f64, end: f64, zone: Zone) -> Vec<f64> {
    const STEPS: [f64; 15] = [
        60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0,
        172800.0, 345600.0, 604800.0, 1209600.0,
    ];
    let span = (end - start).max(1.0);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8.0)
        .unwrap_or(span / 6.0);
    let offset = zone.offset(from_unix_seconds(start)) as f64;
    let mut t = ((start + offset) / step).ceil() * step - offset;
    let mut out = Vec::new();
    while t <= end + 1e-6 {
        out.push(t);
        t += step;
    }
    out
}

fn time_format(span_s: f64) -> &'static str {
    if span_s <= 86_400.0 * 1.01 {
        "%H:%M"
    } else if span_s <= 7.0 * 86_400.0 * 1.01 {
        "%a %H:%M"
    } else {
        "%b %d"
    }
}

/// The stretches of a series between gaps (NaN): a line is not drawn across missing data.
fn finite_runs(points: &[(f64, f64)]) -> impl Iterator<Item = &[(f64, f64)]> {
    points
        .split(|(_, v)| !v.is_finite())
        .filter(|s| !s.is_empty())
}

/// A time label is centred under its tick, unless that would cut it at an edge of the
/// picture (the last label of a chart used to lose its end).
fn label_anchor(x: i32, label: &str, width: i32) -> plotters::style::text_anchor::HPos {
    use plotters::style::text_anchor::HPos;
    let half = (label.chars().count() as i32 * 7) / 2;
    if x + half > width {
        HPos::Right
    } else if x - half < 0 {
        HPos::Left
    } else {
        HPos::Center
    }
}

/// A legend entry: a short line in the series' colour.
fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
}

impl Chart {
    fn y_range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for l in &self.lines {
            for (_, v) in &l.points {
                if v.is_finite() {
                    lo = lo.min(*v);
                    hi = hi.max(*v);
                }
            }
        }
        for r in &self.rules {
            hi = hi.max(r.value);
            lo = lo.min(r.value);
        }
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let lo = lo.min(0.0);
        let hi = if hi <= lo {
            lo + 1.0
        } else {
            hi + (hi - lo) * 0.08
        };
        (lo, hi)
    }

    fn secondary_range(&self) -> (f64, f64) {
        let vals = self
            .secondary
            .iter()
            .flat_map(|s| s.lines.iter())
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((0.0f64, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !hi.is_finite() || hi <= lo {
            (lo, lo + 1.0)
        } else {
            (lo, hi + (hi - lo) * 0.08)
        }
    }

    /// The corner of the plot where the legend covers the fewest points (a burn-down starts
    /// top left; most series are quiet on one side).
    fn legend_corner(&self, (y0, y1): (f64, f64)) -> SeriesLabelPosition {
        let span = (self.end - self.start).max(f64::EPSILON);
        let height = (y1 - y0).max(f64::EPSILON);
        let under = |left: bool, top: bool| -> usize {
            self.lines
                .iter()
                .flat_map(|l| l.points.iter())
                .filter(|(t, v)| {
                    let x = (t - self.start) / span;
                    let y = (v - y0) / height;
                    v.is_finite()
                        && if left { x < 0.4 } else { x > 0.6 }
                        && if top { y > 0.6 } else { y < 0.4 }
                })
                .count()
        };
        [
            (under(true, true), SeriesLabelPosition::UpperLeft),
            (under(false, true), SeriesLabelPosition::UpperRight),
            (under(true, false), SeriesLabelPosition::LowerLeft),
            (under(false, false), SeriesLabelPosition::LowerRight),
        ]
        .into_iter()
        .min_by_key(|(n, _)| *n)
        .map(|(_, p)| p)
        .unwrap_or(SeriesLabelPosition::UpperLeft)
    }

    /// Pixels of the plot area for a picture `width` wide (what the step is chosen from).
    pub fn plot_width(width: u32) -> u32 {
        width
            .saturating_sub(Self::Y_LABELS + 2 * Self::MARGIN)
            .max(10)
    }
    const Y_LABELS: u32 = 90;
    const MARGIN: u32 = 12;

    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let (head, body) = root.split_vertically(58);
        head.draw(&Text::new(
            self.title.clone(),
            (Self::MARGIN as i32, 10),
            ("sans-serif", 20).into_font().color(&BLACK),
        ))
        .map_err(e)?;
        head.draw(&Text::new(
            self.subtitle.clone(),
            (Self::MARGIN as i32, 36),
            ("sans-serif", 13).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(e)?;
        let (y0, y1) = self.y_range();
        let unit = self.unit;
        let zone = self.zone;
        let fmt = time_format(self.end - self.start);
        let (s0, s1) = self.secondary_range();
        let mut chart = ChartBuilder::on(&body)
            .margin(Self::MARGIN)
            .x_label_area_size(32)
            .y_label_area_size(Self::Y_LABELS)
            .right_y_label_area_size(if self.secondary.is_some() {
                Self::Y_LABELS
            } else {
                0
            })
            .build_cartesian_2d(self.start..self.end, y0..y1)
            .map_err(e)?
            .set_secondary_coord(self.start..self.end, s0..s1);
        // Time ticks on round local times: grid lines and labels drawn here, not by plotters.
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&|y| unit.format(*y))
            .x_desc(format!("time ({})", zone.name()))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        for t in time_ticks(self.start, self.end, zone) {
            chart
                .draw_series(LineSeries::new(
                    vec![(t, y0), (t, y1)],
                    RGBColor(225, 225, 225),
                ))
                .map_err(e)?;
            let (px, py) = chart.backend_coord(&(t, y0));
            let label = zone.format(from_unix_seconds(t), fmt);
            let (bx, by) = body.get_base_pixel();
            let x = px - bx;
            let h = label_anchor(x, &label, body.dim_in_pixel().0 as i32);
            body.draw(&Text::new(
                label,
                (x, py - by + 6),
                ("sans-serif", 12).into_font().color(&BLACK).pos(
                    plotters::style::text_anchor::Pos::new(
                        h,
                        plotters::style::text_anchor::VPos::Top,
                    ),
                ),
            ))
            .map_err(e)?;
        }
        let shade = RGBColor(214, 39, 40).mix(0.12);
        if !self.bands.is_empty() {
            chart
                .draw_series(
                    self.bands
                        .iter()
                        .map(|b| Rectangle::new([(b.start, y0), (b.end, y1)], shade.filled())),
                )
                .map_err(e)?
                .label("incident: an alert condition held")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade.filled())
                });
        }
        for (i, l) in self.lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let mut labelled = false;
            for seg in finite_runs(&l.points) {
                let s = chart
                    .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                    .map_err(e)?;
                if !labelled {
                    s.label(l.label.clone()).legend(legend_line(color));
                    labelled = true;
                }
            }
        }
        if let Some(sec) = &self.secondary {
            let unit2 = sec.unit;
            chart
                .configure_secondary_axes()
                .y_labels(6)
                .y_label_formatter(&|y| unit2.format(*y))
                .y_desc(sec.label.clone())
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(e)?;
            for (i, l) in sec.lines.iter().enumerate() {
                let color = PALETTE[(self.lines.len() + i) % PALETTE.len()];
                let mut labelled = false;
                for seg in finite_runs(&l.points) {
                    let s = chart
                        .draw_secondary_series(LineSeries::new(
                            seg.iter().copied(),
                            color.stroke_width(2),
                        ))
                        .map_err(e)?;
                    if !labelled {
                        s.label(format!("{} (right axis)", l.label))
                            .legend(legend_line(color));
                        labelled = true;
                    }
                }
            }
        }
        for r in &self.rules {
            let color = if r.warn {
                RGBColor(230, 140, 0)
            } else {
                RGBColor(214, 39, 40)
            };
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(self.start, r.value), (self.end, r.value)],
                    8,
                    5,
                    color.stroke_width(2),
                ))
                .map_err(e)?
                .label(r.label.clone())
                .legend(legend_line(color));
        }
        chart
            .configure_series_labels()
            .position(self.legend_corner((y0, y1)))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
        Ok(())
    }

    pub(crate) fn svg(&self, width: u32, height: u32) -> Result<String, String> {
        // Text is measured for layout even in SVG.
        register_font();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
            self.draw(root)?;
        }
        Ok(out)
    }

    pub(crate) fn png(
        &self,
        path: &std::path::Path,
        width: u32,
        height: u32,
    ) -> Result<(), String> {
        register_font();
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        self.draw(root)
    }

    /// A braille chart `cols` wide (2 dots per column, 4 per row), for the terminal.
    pub(crate) fn terminal(&self, cols: usize, rows: usize, color: bool) -> String {
        let (y0, y1) = self.y_range();
        let w = cols.saturating_sub(LABEL_W + 1).max(10);
        let mut canvas = Braille::new(w, rows);
        let span = (self.end - self.start).max(f64::EPSILON);
        let (dw, dh) = (canvas.dots_w(), canvas.dots_h());
        let to_dot = |t: f64, v: f64| -> (i64, i64) {
            let x = ((t - self.start) / span * (dw - 1) as f64).round() as i64;
            let y = ((y1 - v) / (y1 - y0) * (dh - 1) as f64).round() as i64;
            (x, y)
        };
        // Reference lines first, so data is drawn over them.
        for (k, r) in self.rules.iter().enumerate() {
            let (_, y) = to_dot(self.start, r.value);
            for x in (0..dw as i64).step_by(3) {
                canvas.set(x, y, RULE_OWNER + k);
            }
        }
        for (i, l) in self.lines.iter().enumerate() {
            let mut prev: Option<(i64, i64)> = None;
            for (t, v) in &l.points {
                if !v.is_finite() {
                    prev = None;
                    continue;
                }
                let p = to_dot(*t, *v);
                match prev {
                    Some(q) => canvas.line(q, p, i),
                    None => canvas.set(p.0, p.1, i),
                }
                prev = Some(p);
            }
        }
        let mut out = format!("{}\n{}\n", self.title, self.subtitle);
        out.push_str(&canvas.text((y0, y1), self.unit, color));
        out.push_str(&self.terminal_footer(w, color));
        out
    }

    /// Under the canvas: the incidents, the time axis, the legend.
    fn terminal_footer(&self, w: usize, color: bool) -> String {
        let mut out = String::new();
        let span = (self.end - self.start).max(f64::EPSILON);
        if !self.bands.is_empty() {
            let mut marks = vec![' '; w];
            for b in &self.bands {
                let a = (((b.start - self.start) / span) * w as f64)
                    .floor()
                    .max(0.0) as usize;
                let z = (((b.end - self.start) / span) * w as f64)
                    .ceil()
                    .min(w as f64) as usize;
                for m in marks.iter_mut().take(z).skip(a) {
                    *m = '▀';
                }
            }
            let line: String = marks.into_iter().collect();
            out.push_str(&format!("{:>LABEL_W$}  {line}\n", "incidents"));
        }
        let fmt = time_format(self.end - self.start);
        let (l, m, r) = (
            self.zone.format(from_unix_seconds(self.start), fmt),
            self.zone
                .format(from_unix_seconds((self.start + self.end) / 2.0), fmt),
            self.zone.format(from_unix_seconds(self.end), fmt),
        );
        let gap1 = (w / 2).saturating_sub(l.chars().count() + m.chars().count() / 2);
        let gap2 =
            w.saturating_sub(l.chars().count() + gap1 + m.chars().count() + r.chars().count());
        out.push_str(&format!(
            "{:>LABEL_W$}  {l}{}{m}{}{r}\n",
            "",
            " ".repeat(gap1),
            " ".repeat(gap2)
        ));
        for (i, l) in self.lines.iter().enumerate() {
            let marker = if color {
                format!("{}━━\x1b[0m", ansi(Some(i)))
            } else {
                format!("[{}]", i + 1)
            };
            let last = l
                .points
                .iter()
                .rev()
                .find(|p| p.1.is_finite())
                .map(|p| self.unit.format(p.1))
                .unwrap_or_else(|| "no data".into());
            out.push_str(&format!("  {marker} {} (last {last})\n", l.label));
        }
        for r in &self.rules {
            let dash = if color {
                "\x1b[31m┈┈\x1b[0m"
            } else {
                "┈┈"
            };
            out.push_str(&format!("  {dash} {}\n", r.label));
        }
        if !color && self.lines.len() > 1 {
            out.push_str("  (several series share the canvas; use --color always or --out to tell them apart)\n");
        }
        out
    }
}

/// Width of the y labels of a terminal chart.
const LABEL_W: usize = 11;
/// Who drew a reference line (data series are 0, 1, ...).
const RULE_OWNER: usize = 100;

fn ansi(who: Option<usize>) -> &'static str {
    match who {
        Some(k) if k >= RULE_OWNER => "\x1b[31m",
        Some(i) => [
            "\x1b[34m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[36m", "\x1b[91m", "\x1b[90m",
            "\x1b[93m",
        ][i % 8],
        None => "",
    }
}

/// A grid of braille cells: 2x4 dots each, and who drew each cell last.
struct Braille {
    w: usize,
    rows: usize,
    cells: Vec<u8>,
    owner: Vec<Option<usize>>,
}

impl Braille {
    fn new(w: usize, rows: usize) -> Braille {
        Braille {
            w,
            rows,
            cells: vec![0; w * rows],
            owner: vec![None; w * rows],
        }
    }

    fn dots_w(&self) -> usize {
        self.w * 2
    }

    fn dots_h(&self) -> usize {
        self.rows * 4
    }

    fn set(&mut self, x: i64, y: i64, who: usize) {
        if x < 0 || y < 0 || x >= self.dots_w() as i64 || y >= self.dots_h() as i64 {
            return;
        }
        let (cx, cy) = (x as usize / 2, y as usize / 4);
        let bit = match (x % 2, y % 4) {
            (0, 0) => 0x01,
            (0, 1) => 0x02,
            (0, 2) => 0x04,
            (1, 0) => 0x08,
            (1, 1) => 0x10,
            (1, 2) => 0x20,
            (0, _) => 0x40,
            _ => 0x80,
        };
        self.cells[cy * self.w + cx] |= bit;
        self.owner[cy * self.w + cx] = Some(who);
    }

    /// Bresenham between two dots.
    fn line(&mut self, (mut x0, mut y0): (i64, i64), (x1, y1): (i64, i64), who: usize) {
        let dx = (x1 - x0).abs();
        let dy = -(y1 - y0).abs();
        let sx = if x0 < x1 { 1 } else { -1 };
        let sy = if y0 < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            self.set(x0, y0, who);
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
        }
    }

    /// The rows with their y labels (top, middle, bottom).
    fn text(&self, (y0, y1): (f64, f64), unit: crate::units::Unit, color: bool) -> String {
        let mut out = String::new();
        for r in 0..self.rows {
            let label = if r == 0 {
                unit.format(y1)
            } else if r == self.rows - 1 {
                unit.format(y0)
            } else if r == self.rows / 2 {
                unit.format((y0 + y1) / 2.0)
            } else {
                String::new()
            };
            out.push_str(&format!("{label:>LABEL_W$} ┤"));
            for c in 0..self.w {
                let bits = self.cells[r * self.w + c];
                let ch = char::from_u32(0x2800 + bits as u32).unwrap_or(' ');
                if color && bits != 0 {
                    out.push_str(ansi(self.owner[r * self.w + c]));
                    out.push(ch);
                    out.push_str("\x1b[0m");
                } else {
                    out.push(ch);
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use super::*;

    #[test]
    fn ticks_fall_on_round_local_times() {
        // 09:00..14:00 UTC: every hour on the hour.
        let s = 1_795_078_800.0;
        let t = time_ticks(s, s + 5.0 * 3600.0, Zone::Tz(Tz::UTC));
        assert_eq!(t.len(), 6);
        assert!(t.iter().all(|x| x % 3600.0 == 0.0));
        // A week in Moscow: ticks at local midnight (21:00 UTC).
        let t = time_ticks(s, s + 7.0 * 86400.0, Zone::Tz(chrono_tz::Europe::Moscow));
        assert!(
            t.iter().all(|x| (x + 3.0 * 3600.0) % 86400.0 == 0.0),
            "{t:?}"
        );
    }
}
