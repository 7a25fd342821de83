//! The Prometheus API envelope and query results, decoded straight into vitals' series,
//! stopping at the first series past the limit (`--max-series`).
//!
//! Also understood: `warnings` (Prometheus, Thanos), `isPartial` (VictoriaMetrics); `infos`
//! (Prometheus 2.50+ info annotations) are ignored, as they do not mean missing data.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Series;

#[derive(Deserialize)]
pub struct Envelope {
    pub status: String,
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(rename = "errorType")]
    pub error_type: Option<String>,
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// VictoriaMetrics: some storage nodes did not answer.
    #[serde(rename = "isPartial", default)]
    pub is_partial: bool,
}

/// The `data` of a query reply: every result type as series (a scalar is one series
/// without labels).
pub struct Data {
    pub series: Vec<Series>,
}

thread_local! {
    /// The series limit of the decode running on this thread, and whether it was hit.
    static LIMIT: Cell<(usize, bool)> = const { Cell::new((usize::MAX, false)) };
}

/// How a body failed to decode.
pub enum DecodeError {
    Json(serde_json::Error),
    TooManySeries,
}

/// Decodes a query reply, stopping once it holds more than `max_series` series.
pub fn envelope(body: &[u8], max_series: usize) -> Result<Envelope, DecodeError> {
    LIMIT.with(|l| l.set((max_series, false)));
    let r = serde_json::from_slice::<Envelope>(body);
    let (_, hit) = LIMIT.with(|l| l.replace((usize::MAX, false)));
    match r {
        Ok(e) => Ok(e),
        Err(_) if hit => Err(DecodeError::TooManySeries),
        Err(e) => Err(DecodeError::Json(e)),
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with resultType and result")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Data, A::Error> {
                let mut kind: Option<String> = None;
                let mut items: Option<Vec<Item>> = None;
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "resultType" => kind = Some(m.next_value()?),
                        "result" => items = Some(m.next_value_seed(Items)?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("resultType"))?;
                let items = items.ok_or_else(|| de::Error::missing_field("result"))?;
                let series = match kind.as_str() {
                    "vector" | "matrix" => items
                        .into_iter()
                        .map(|i| match i {
                            Item::Series(s) => Ok(s),
                            _ => Err(de::Error::custom(format!(
                                "a {kind} result holds a non-series element"
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    "scalar" => match items.as_slice() {
                        [Item::Number(t), Item::Text(v)] => vec![Series {
                            labels: BTreeMap::new(),
                            samples: vec![(*t, number(v).map_err(de::Error::custom)?)],
                        }],
                        _ => return Err(de::Error::custom("a scalar result is not [time, value]")),
                    },
                    other => {
                        return Err(de::Error::custom(format!(
                            "result type `{other}` is not a number (vitals reads vector, matrix and scalar results)"
                        )));
                    }
                };
                Ok(Data { series })
            }
        }
        d.deserialize_map(V)
    }
}

/// One element of `result`: a series, or a part of a scalar's `[time, "value"]`.
enum Item {
    Series(Series),
    Number(f64),
    Text(String),
}

struct Items;

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Vec<Item>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Item>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Item>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Vec<Item>, A::Error> {
                let (limit, _) = LIMIT.with(|l| l.get());
                let mut out = Vec::new();
                let mut series = 0usize;
                while let Some(item) = s.next_element::<Item>()? {
                    if matches!(item, Item::Series(_)) {
                        series += 1;
                        if series > limit {
                            LIMIT.with(|l| l.set((limit, true)));
                            return Err(de::Error::custom("too many series"));
                        }
                    }
                    out.push(item);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a series, a time or a value")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
                Ok(Item::Number(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
                Ok(Item::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
                Ok(Item::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<Item, E> {
                Ok(Item::Text(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Item, A::Error> {
                let mut labels = BTreeMap::new();
                let mut samples = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "metric" => labels = m.next_value()?,
                        "value" => {
                            let (t, v): (f64, String) = m.next_value()?;
                            samples = vec![(t, number(&v).map_err(de::Error::custom)?)];
                        }
                        "values" => {
                            let vs: Vec<(f64, String)> = m.next_value()?;
                            samples = vs
                                .into_iter()
                                .map(|(t, v)| number(&v).map(|v| (t, v)))
                                .collect::<Result<_, _>>()
                                .map_err(de::Error::custom)?;
                        }
                        // Native histograms and anything newer: not numbers vitals reads.
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Item::Series(Series { labels, samples }))
            }
        }
        d.deserialize_any(V)
    }
}

/// A sample value as Prometheus writes it: a decimal string, `NaN`, `+Inf` or `-Inf`.
fn number(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .map_err(|_| format!("sample value {s:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Envelope {
        match envelope(body.as_bytes(), 10) {
            Ok(e) => e,
            Err(DecodeError::Json(e)) => panic!("{e}"),
            Err(DecodeError::TooManySeries) => panic!("limit"),
        }
    }

    #[test]
    fn decodes_vectors_matrices_and_scalars() {
        let v = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1.5,"2"]},{"metric":{},"value":[1.5,"NaN"]}]}}"#,
        );
        let s = v.data.unwrap().series;
        assert_eq!(s[0].labels["a"], "1");
        assert_eq!(s[0].samples, vec![(1.5, 2.0)]);
        assert!(s[1].samples[0].1.is_nan());
        let m = ok(
            r#"{"status":"success","data":{"result":[{"metric":{"a":"1"},"values":[[1,"+Inf"],[2,"-Inf"]]}],"resultType":"matrix"},"warnings":["w"],"infos":["i"]}"#,
        );
        assert_eq!(m.warnings, vec!["w".to_string()]);
        assert_eq!(
            m.data.unwrap().series[0].samples,
            vec![(1.0, f64::INFINITY), (2.0, f64::NEG_INFINITY)]
        );
        let sc = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[7,"3.25"]}}"#);
        assert_eq!(sc.data.unwrap().series[0].samples, vec![(7.0, 3.25)]);
        let vm = ok(
            r#"{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[]}}"#,
        );
        assert!(vm.is_partial);
    }

    #[test]
    fn stops_past_the_series_limit() {
        let one = r#"{"metric":{"a":"1"},"value":[1,"2"]}"#;
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            [one; 11].join(",")
        );
        assert!(matches!(
            envelope(body.as_bytes(), 10),
            Err(DecodeError::TooManySeries)
        ));
        let ten = body.replacen(&format!("{one},"), "", 1);
        assert!(envelope(ten.as_bytes(), 10).is_ok());
        // The limit does not leak into the next decode on this thread.
        assert!(envelope(body.as_bytes(), 100).is_ok());
    }

    #[test]
    fn rejects_bad_values_and_string_results() {
        for b in [
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"#,
        ] {
            assert!(matches!(
                envelope(b.as_bytes(), 10),
                Err(DecodeError::Json(_))
            ));
        }
    }
}
