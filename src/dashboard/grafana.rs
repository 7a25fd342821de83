//! The pieces of Grafana dashboard JSON vitals writes: panels, queries, units, thresholds and
//! the grid. Only the fields Grafana's own types (`@grafana/schema`) declare are written.

use serde_json::{Value, json};

use crate::slo::model::Op;
use crate::units::Unit;

/// The dashboard schema version of Grafana 12 (what `@grafana/schema` 12 and 13 describe).
pub(crate) const SCHEMA_VERSION: u32 = 41;

/// The name of the datasource template variable every panel reads through.
pub(crate) const DATASOURCE_VAR: &str = "datasource";

/// Grafana's width of a dashboard, in grid columns.
const GRID_WIDTH: u32 = 24;

/// The datasource of every panel and query: the `${datasource}` variable.
pub(crate) fn datasource() -> Value {
    json!({ "type": "prometheus", "uid": format!("${{{DATASOURCE_VAR}}}") })
}

/// The template variable that picks the Prometheus datasource.
pub(crate) fn datasource_variable() -> Value {
    json!({
        "name": DATASOURCE_VAR,
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "refresh": 1,
        "hide": 0,
        "includeAll": false,
        "multi": false,
        "regex": "",
        "options": [],
    })
}

/// Grafana's unit id for a catalog unit (the same scale vitals writes: IEC bytes).
pub(crate) fn unit(u: Unit) -> &'static str {
    match u {
        Unit::Seconds => "s",
        Unit::Bytes => "bytes",
        Unit::BytesPerSecond => "binBps",
        Unit::Ratio => "percentunit",
        Unit::Percent => "percent",
        Unit::Rps => "reqps",
        Unit::PerSecond => "cps",
        Unit::Count => "short",
    }
}

/// One threshold step: a colour from `value` up (`None`: the base).
pub(crate) type Step = (&'static str, Option<f64>);

/// The steps of levels that hold while `value OP limit`: green where healthy, yellow past
/// the warning level, red past the failure level.
pub(crate) fn level_steps(op: Op, limit: f64, warn: Option<f64>) -> Vec<Step> {
    if op.upper_bound() {
        let mut s = vec![("green", None)];
        if let Some(w) = warn.filter(|w| *w < limit) {
            s.push(("yellow", Some(w)));
        }
        s.push(("red", Some(limit)));
        s
    } else {
        let mut s = vec![("red", None)];
        match warn.filter(|w| *w > limit) {
            Some(w) => {
                s.push(("yellow", Some(limit)));
                s.push(("green", Some(w)));
            }
            None => s.push(("green", Some(limit))),
        }
        s
    }
}

fn thresholds(steps: &[Step]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|(color, value)| json!({ "color": color, "value": value }))
        .collect();
    json!({ "mode": "absolute", "steps": steps })
}

/// A PromQL query of a panel. `instant`: one value at the end of the range (a stat).
pub(crate) fn target(ref_id: &str, expr: &str, legend: &str, instant: bool) -> Value {
    json!({
        "refId": ref_id,
        "datasource": datasource(),
        "expr": expr,
        "legendFormat": legend,
        "range": !instant,
        "instant": instant,
    })
}

/// `A`, `B`, ... for the queries of a panel.
pub(crate) fn ref_id(i: usize) -> String {
    let mut n = i;
    let mut s = String::new();
    loop {
        s.insert(0, (b'A' + (n % 26) as u8) as char);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s
}

/// What a panel shows and how.
pub(crate) struct Panel {
    pub kind: Kind,
    pub title: String,
    pub description: String,
    pub unit: Unit,
    pub targets: Vec<Value>,
    /// Threshold steps; drawn as lines on a time series, colouring a stat.
    pub steps: Option<Vec<Step>>,
    pub transformations: Vec<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    TimeSeries,
    /// The last value, with the range drawn behind it when `sparkline`.
    Stat {
        sparkline: bool,
    },
}

impl Panel {
    pub(crate) fn to_json(&self, id: u32, grid: Value) -> Value {
        let mut defaults = json!({ "unit": unit(self.unit) });
        let colored = self.steps.is_some();
        if let Some(steps) = &self.steps {
            defaults["thresholds"] = thresholds(steps);
        }
        let (kind, options) = match self.kind {
            Kind::TimeSeries => {
                defaults["color"] = json!({ "mode": "palette-classic" });
                defaults["custom"] = json!({
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": false,
                    "thresholdsStyle": { "mode": if colored { "line" } else { "off" } },
                });
                (
                    "timeseries",
                    json!({
                        "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
                        "tooltip": { "mode": "multi", "sort": "desc" },
                    }),
                )
            }
            Kind::Stat { sparkline } => {
                defaults["color"] = json!({ "mode": if colored { "thresholds" } else { "fixed" }, "fixedColor": "text" });
                (
                    "stat",
                    json!({
                        "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
                        "colorMode": if colored { "value" } else { "none" },
                        "graphMode": if sparkline { "area" } else { "none" },
                        "justifyMode": "auto",
                        "orientation": "auto",
                        "textMode": "auto",
                        "wideLayout": true,
                    }),
                )
            }
        };
        let mut p = json!({
            "id": id,
            "type": kind,
            "title": self.title,
            "description": self.description,
            "datasource": datasource(),
            "gridPos": grid,
            "fieldConfig": { "defaults": defaults, "overrides": [] },
            "options": options,
            "targets": self.targets,
        });
        if !self.transformations.is_empty() {
            p["transformations"] = Value::Array(self.transformations.clone());
        }
        p
    }
}

/// A text panel in Markdown.
pub(crate) fn text(id: u32, title: &str, markdown: &str, grid: Value) -> Value {
    json!({
        "id": id,
        "type": "text",
        "title": title,
        "gridPos": grid,
        "options": { "mode": "markdown", "content": markdown },
    })
}

/// A row (expanded: its panels follow it in the dashboard's list).
pub(crate) fn row(id: u32, title: &str, grid: Value) -> Value {
    json!({
        "id": id,
        "type": "row",
        "title": title,
        "collapsed": false,
        "panels": [],
        "gridPos": grid,
    })
}

/// Places panels left to right, in lines, and rows across the whole width.
#[derive(Default)]
pub(crate) struct Layout {
    x: u32,
    y: u32,
    line_height: u32,
}

impl Layout {
    fn new_line(&mut self) {
        self.y += self.line_height;
        self.x = 0;
        self.line_height = 0;
    }

    pub(crate) fn row(&mut self) -> Value {
        self.new_line();
        let g = json!({ "x": 0, "y": self.y, "w": GRID_WIDTH, "h": 1 });
        self.y += 1;
        g
    }

    pub(crate) fn place(&mut self, w: u32, h: u32) -> Value {
        let w = w.min(GRID_WIDTH);
        if self.x + w > GRID_WIDTH {
            self.new_line();
        }
        let g = json!({ "x": self.x, "y": self.y, "w": w, "h": h });
        self.x += w;
        self.line_height = self.line_height.max(h);
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_colour_the_healthy_side_green() {
        assert_eq!(
            level_steps(Op::Le, 95.0, Some(80.0)),
            vec![("green", None), ("yellow", Some(80.0)), ("red", Some(95.0))]
        );
        assert_eq!(
            level_steps(Op::Ge, 0.9, Some(0.95)),
            vec![("red", None), ("yellow", Some(0.9)), ("green", Some(0.95))]
        );
        assert_eq!(
            level_steps(Op::Gt, 1.0, None),
            vec![("red", None), ("green", Some(1.0))]
        );
    }

    #[test]
    fn ref_ids_go_on_after_z() {
        assert_eq!(ref_id(0), "A");
        assert_eq!(ref_id(25), "Z");
        assert_eq!(ref_id(26), "AA");
        assert_eq!(ref_id(27), "AB");
    }

    #[test]
    fn panels_flow_in_lines_of_the_grid_width() {
        let mut l = Layout::default();
        assert_eq!(l.row(), json!({"x": 0, "y": 0, "w": 24, "h": 1}));
        assert_eq!(l.place(12, 8), json!({"x": 0, "y": 1, "w": 12, "h": 8}));
        assert_eq!(l.place(12, 6), json!({"x": 12, "y": 1, "w": 12, "h": 6}));
        assert_eq!(l.place(6, 4), json!({"x": 0, "y": 9, "w": 6, "h": 4}));
        assert_eq!(l.row(), json!({"x": 0, "y": 13, "w": 24, "h": 1}));
    }
}
