//! Where simulated samples go: an OpenMetrics file for `promtool`, Prometheus' remote-write
//! receiver, or the text exposition a live scrape reads.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::model::Model;
use super::registry::{Registry, Series, Tid};
use crate::openmetrics::{Kind, format_value, write_value};

/// Receives the model's state after every interval.
pub trait Sink {
    fn tick(&mut self, model: &Model) -> io::Result<()>;
}

/// `up{job,instance,service}` as Prometheus records it for a target.
pub fn up_labels(reg: &Registry, t: Tid) -> String {
    let tg = &reg.targets[t];
    format!(
        "{{job=\"{}\",instance=\"{}\",service=\"{}\"}}",
        tg.job, tg.instance, tg.service
    )
}

/// OpenMetrics, one metric family after another as the format requires: samples are
/// appended to one spool file per family while time advances, and the spools are joined
/// at the end.
pub struct OpenMetricsSink {
    out: PathBuf,
    spool_dir: PathBuf,
    spools: HashMap<usize, Box<dyn Write>>,
    /// Format everything but keep nothing (the benchmark of the text encoder).
    discard: bool,
    families: HashMap<usize, (String, Kind, String)>,
    pub samples: u64,
}

const UP_FAMILY: usize = usize::MAX;

impl OpenMetricsSink {
    pub fn new(out: &Path) -> io::Result<Self> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let spool_dir = parent.join(format!(
            ".{}.spool-{}",
            out.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("history"),
            std::process::id()
        ));
        std::fs::create_dir_all(&spool_dir)?;
        Ok(Self {
            out: out.to_path_buf(),
            spool_dir,
            spools: HashMap::new(),
            discard: false,
            families: HashMap::new(),
            samples: 0,
        })
    }

    /// A sink that formats every sample and throws the text away.
    pub fn discarding() -> Self {
        Self {
            out: PathBuf::new(),
            spool_dir: PathBuf::new(),
            spools: HashMap::new(),
            discard: true,
            families: HashMap::new(),
            samples: 0,
        }
    }

    fn spool(&mut self, family: usize) -> io::Result<&mut Box<dyn Write>> {
        if !self.spools.contains_key(&family) {
            let w: Box<dyn Write> = if self.discard {
                Box::new(io::sink())
            } else {
                let f = File::create(self.spool_dir.join(format!("{family}")))?;
                Box::new(BufWriter::with_capacity(1 << 16, f))
            };
            self.spools.insert(family, w);
        }
        Ok(self.spools.get_mut(&family).expect("just inserted"))
    }

    /// Joins the spools into the output file and removes them.
    pub fn finish(mut self) -> io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&self.out)?);
        let mut order: Vec<usize> = self.spools.keys().copied().collect();
        order.sort();
        for fam in order {
            let mut w = self.spools.remove(&fam).expect("listed");
            w.flush()?;
            drop(w);
            let (name, kind, help) = if fam == UP_FAMILY {
                (
                    "up".to_string(),
                    Kind::Gauge,
                    "1 if the target could be scraped".to_string(),
                )
            } else {
                self.families[&fam].clone()
            };
            writeln!(out, "# TYPE {name} {}", kind_name(kind))?;
            writeln!(out, "# HELP {name} {help}")?;
            let path = self.spool_dir.join(format!("{fam}"));
            io::copy(&mut File::open(&path)?, &mut out)?;
            std::fs::remove_file(path)?;
        }
        writeln!(out, "# EOF")?;
        out.flush()?;
        let _ = std::fs::remove_dir(&self.spool_dir);
        Ok(self.samples)
    }
}

impl Drop for OpenMetricsSink {
    fn drop(&mut self) {
        if !self.discard {
            let _ = std::fs::remove_dir_all(&self.spool_dir);
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
        Kind::Unknown => "unknown",
    }
}

impl Sink for OpenMetricsSink {
    fn tick(&mut self, model: &Model) -> io::Result<()> {
        let reg = &model.reg;
        let secs = model.now_ms() / 1000;
        for t in 0..reg.targets.len() {
            let up = if reg.targets[t].reachable { 1 } else { 0 };
            let line = format!("up{} {up} {secs}\n", up_labels(reg, t));
            self.spool(UP_FAMILY)?.write_all(line.as_bytes())?;
            self.samples += 1;
        }
        for s in &reg.series {
            if !s.born || !reg.targets[s.target].reachable {
                continue;
            }
            self.families.entry(s.family).or_insert_with(|| {
                let f = &reg.families[s.family];
                (f.name.clone(), f.kind, f.help.clone())
            });
            let w = self.spool(s.family)?;
            w.write_all(s.metric.as_bytes())?;
            w.write_all(s.label_text.as_bytes())?;
            w.write_all(b" ")?;
            write_value(w, s.value)?;
            writeln!(w, " {secs}")?;
            self.samples += 1;
        }
        Ok(())
    }
}

/// Prometheus' remote-write protocol (protobuf `WriteRequest`, snappy block compressed).
pub mod remote {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Collects samples for a batch of intervals and hands out compressed requests.
pub struct RemoteWriteBatcher {
    series: HashMap<usize, remote::TimeSeries>,
    pending_ticks: usize,
    ticks_per_batch: usize,
    ready: Vec<Vec<u8>>,
    pub samples: u64,
}

fn sorted_labels(
    metric: &str,
    labels: impl Iterator<Item = (String, String)>,
) -> Vec<remote::Label> {
    let mut v: Vec<remote::Label> = labels
        .map(|(name, value)| remote::Label { name, value })
        .collect();
    v.push(remote::Label {
        name: "__name__".into(),
        value: metric.into(),
    });
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn series_labels(s: &Series) -> Vec<remote::Label> {
    sorted_labels(
        &s.metric,
        s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

impl RemoteWriteBatcher {
    pub fn new(ticks_per_batch: usize) -> Self {
        Self {
            series: HashMap::new(),
            pending_ticks: 0,
            ticks_per_batch: ticks_per_batch.max(1),
            ready: Vec::new(),
            samples: 0,
        }
    }

    /// Compressed requests ready to send.
    pub fn take_ready(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.ready)
    }

    /// Closes the current batch.
    pub fn flush(&mut self) {
        if self.series.is_empty() {
            return;
        }
        let mut keys: Vec<usize> = self.series.keys().copied().collect();
        keys.sort();
        let req = remote::WriteRequest {
            timeseries: keys
                .into_iter()
                .filter_map(|k| self.series.remove(&k))
                .collect(),
        };
        let raw = prost::Message::encode_to_vec(&req);
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("snappy compresses any input");
        self.ready.push(compressed);
        self.pending_ticks = 0;
    }
}

impl Sink for RemoteWriteBatcher {
    fn tick(&mut self, model: &Model) -> io::Result<()> {
        let reg = &model.reg;
        let ts = model.now_ms();
        for t in 0..reg.targets.len() {
            let key = usize::MAX - t;
            let entry = self.series.entry(key).or_insert_with(|| {
                let tg = &reg.targets[t];
                remote::TimeSeries {
                    labels: sorted_labels(
                        "up",
                        [
                            ("job".to_string(), tg.job.clone()),
                            ("instance".to_string(), tg.instance.clone()),
                            ("service".to_string(), tg.service.clone()),
                        ]
                        .into_iter(),
                    ),
                    samples: Vec::new(),
                }
            });
            entry.samples.push(remote::Sample {
                value: if reg.targets[t].reachable { 1.0 } else { 0.0 },
                timestamp: ts,
            });
            self.samples += 1;
        }
        for (i, s) in reg.series.iter().enumerate() {
            if !s.born || !reg.targets[s.target].reachable {
                continue;
            }
            let entry = self.series.entry(i).or_insert_with(|| remote::TimeSeries {
                labels: series_labels(s),
                samples: Vec::new(),
            });
            entry.samples.push(remote::Sample {
                value: s.value,
                timestamp: ts,
            });
            self.samples += 1;
        }
        self.pending_ticks += 1;
        if self.pending_ticks >= self.ticks_per_batch {
            self.flush();
        }
        Ok(())
    }
}

/// The text exposition (format 0.0.4) of one target, as a live scrape reads it. Target
/// labels come from the scrape config; a series that overrides one (the database client
/// metrics carry the database's `service`) keeps it, so scrape with `honor_labels: true`.
pub fn exposition(reg: &Registry, t: Tid) -> String {
    let tg = &reg.targets[t];
    let mut out = String::with_capacity(64 * 1024);
    let mut last_family = usize::MAX;
    let mut series: Vec<&Series> = reg.exported(t).collect();
    series.sort_by_key(|s| s.family);
    for s in series {
        if s.family != last_family {
            last_family = s.family;
            let f = &reg.families[s.family];
            let (name, kind) = match f.kind {
                Kind::Counter => (format!("{}_total", f.name), "counter"),
                Kind::Gauge => (f.name.clone(), "gauge"),
                Kind::Histogram => (f.name.clone(), "histogram"),
                Kind::Unknown => (f.name.clone(), "untyped"),
            };
            out.push_str(&format!("# HELP {name} {}\n# TYPE {name} {kind}\n", f.help));
        }
        let own: Vec<String> = s
            .labels
            .iter()
            .filter(|(k, v)| match &**k {
                "job" | "instance" => false,
                "service" => **v != *tg.service,
                _ => true,
            })
            .map(|(k, v)| format!("{k}=\"{}\"", crate::openmetrics::escape_label_value(v)))
            .collect();
        if own.is_empty() {
            out.push_str(&format!("{} {}\n", s.metric, format_value(s.value)));
        } else {
            out.push_str(&format!(
                "{}{{{}}} {}\n",
                s.metric,
                own.join(","),
                format_value(s.value)
            ));
        }
    }
    out
}
