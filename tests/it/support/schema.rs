//! A validator for the subset of JSON Schema (2020-12) our contracts in `docs/schema/` use:
//! `type` (one or several), `const`, `enum`, `required`, `properties`,
//! `additionalProperties` (boolean or schema), `items`, `prefixItems`, `minItems`,
//! `maxItems`, `minimum`, `maximum` and local
//! `$ref`s to `#/$defs/...`. Unknown keywords fail loudly, so a schema cannot silently ask
//! for more than is checked.

use serde_json::Value;

const KNOWN: [&str; 18] = [
    "$schema",
    "$id",
    "$defs",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "$ref",
];

pub fn validate(schema: &Value, doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, doc, "$", &mut errors);
    errors
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("schema uses unknown type {other}"),
    }
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: not allowed"));
        }
        return;
    };
    for k in s.keys() {
        assert!(
            KNOWN.contains(&k.as_str()),
            "schema keyword {k} is not supported by the test validator"
        );
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("only local $defs refs: {r}"));
        let target = &root["$defs"][name];
        assert!(!target.is_null(), "missing $defs/{name}");
        check(root, target, v, path, errors);
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type keyword"),
        };
        if !ok {
            errors.push(format!("{path}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{path}: expected {c}, got {v}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errors.push(format!("{path}: {v} is not one of {e:?}"));
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < min
    {
        errors.push(format!("{path}: {x} < minimum {min}"));
    }
    if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64())
        && x > max
    {
        errors.push(format!("{path}: {x} > maximum {max}"));
    }
    if let Some(obj) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{path}: missing required `{r}`"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let p = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &p, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{p}: not in the schema")),
                    Some(extra) if extra.is_object() => check(root, extra, val, &p, errors),
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        let prefix = s
            .get("prefixItems")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, item) in arr.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match prefix.get(i) {
                Some(ps) => check(root, ps, item, &p, errors),
                None => {
                    if let Some(items) = s.get("items") {
                        check(root, items, item, &p, errors);
                    }
                }
            }
        }
        let n = arr.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Value::as_u64).filter(|m| n < *m) {
            errors.push(format!("{path}: {n} items, fewer than {min}"));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64).filter(|m| n > *m) {
            errors.push(format!("{path}: {n} items, more than {max}"));
        }
    }
}

/// Loads `docs/schema/<name>` from the repository.
pub fn load(name: &str) -> Value {
    let p = super::repo().join("docs/schema").join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

/// Panics with every violation.
#[track_caller]
pub fn assert_valid(schema_name: &str, doc: &Value) {
    let errors = validate(&load(schema_name), doc);
    assert!(
        errors.is_empty(),
        "{schema_name}: {errors:#?}\n{}",
        serde_json::to_string_pretty(doc).unwrap()
    );
}

/// The validator itself rejects what the keywords it accepts forbid (a validator that
/// passes everything would make every schema test pass).
pub fn the_schema_validator_rejects_what_the_keywords_forbid() -> super::TestResult {
    let schema: Value = serde_json::from_str(
        r#"{"type": "array", "items": {"type": "array",
            "prefixItems": [{"type": "number"}, {"type": ["number", "null"]}],
            "minItems": 2, "maxItems": 2}}"#,
    )
    .unwrap();
    let ok: Value = serde_json::from_str("[[1, 2.5], [2, null]]").unwrap();
    assert_eq!(validate(&schema, &ok), Vec::<String>::new());
    for (bad, why) in [
        ("[[1]]", "fewer than 2"),
        ("[[1, 2, 3]]", "more than 2"),
        (r#"[["1", 2]]"#, "$[0][0]"),
        (r#"[[1, "x"]]"#, "$[0][1]"),
    ] {
        let errors = validate(&schema, &serde_json::from_str(bad).unwrap());
        assert!(errors.iter().any(|e| e.contains(why)), "{bad}: {errors:?}");
    }
    Ok(())
}
