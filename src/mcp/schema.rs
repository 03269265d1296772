//! A tool's JSON Schema cut to the subset Gemini's function declarations take (the OpenAPI
//! subset: `type`, `format`, `description`, `nullable`, `enum`, `items`, `properties`,
//! `required`, `anyOf`, bounds; no `$ref`, `oneOf`, `allOf`, `const`, `additionalProperties`),
//! which OpenAI-compatible servers take too. What could not be kept is returned, by path, so
//! `geminal mcp tools NAME` can say it.

use serde_json::{Map, Value};

/// Keywords kept as they are (their values are plain data).
const KEPT: &[&str] = &[
    "description",
    "title",
    "nullable",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "pattern",
    "minimum",
    "maximum",
    "default",
    "example",
    "propertyOrdering",
];
/// `format` values Gemini takes, per type.
const FORMATS: &[(&str, &str)] = &[
    ("string", "enum"),
    ("string", "date-time"),
    ("integer", "int32"),
    ("integer", "int64"),
    ("number", "float"),
    ("number", "double"),
];
const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];
/// `$ref`s followed this deep at most (a recursive schema ends there).
const MAX_DEPTH: usize = 12;

/// The translated schema (always an object schema) and what was dropped or changed, one entry
/// per keyword: `"/properties/x: additionalProperties"`.
pub fn translate(schema: &Value) -> (Value, Vec<String>) {
    let mut t = Translator { root: schema, dropped: Vec::new() };
    let mut out = t.node(schema, "", 0);
    let is_object = out.get("type").and_then(Value::as_str) == Some("object");
    if !is_object {
        if !schema.as_object().is_none_or(Map::is_empty) {
            t.dropped.push("/: not an object schema".into());
        }
        out = Value::Object(Map::from_iter([("type".to_owned(), Value::from("object"))]));
    }
    (out, t.dropped)
}

struct Translator<'a> {
    root: &'a Value,
    dropped: Vec<String>,
}

impl Translator<'_> {
    fn drop(&mut self, path: &str, what: &str) {
        let at = if path.is_empty() { "/" } else { path };
        self.dropped.push(format!("{at}: {what}"));
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn node(&mut self, schema: &Value, path: &str, depth: usize) -> Value {
        let Some(object) = schema.as_object() else {
            // `true` (anything) and `false` have no counterpart: an unconstrained schema.
            return Value::Object(Map::new());
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) if depth < MAX_DEPTH => {
                    let target = target.clone();
                    let mut out = self.node(&target, path, depth + 1);
                    if let (Some(description), Value::Object(out)) = (object.get("description"), &mut out) {
                        out.insert("description".into(), description.clone());
                    }
                    out
                }
                Some(_) => {
                    self.drop(path, "$ref (recursive, cut)");
                    Value::Object(Map::from_iter([("type".to_owned(), Value::from("object"))]))
                }
                None => {
                    self.drop(path, &format!("$ref {reference} (not found)"));
                    Value::Object(Map::new())
                }
            };
        }
        let mut out = Map::new();
        // allOf: its parts' keywords, merged (the first one wins a conflict).
        let mut merged = object.clone();
        if let Some(Value::Array(parts)) = object.get("allOf") {
            merged.remove("allOf");
            for part in parts {
                let part = match part.get("$ref").and_then(Value::as_str).and_then(|r| self.resolve(r)) {
                    Some(target) => target,
                    None => part,
                };
                if let Some(part) = part.as_object() {
                    for (key, value) in part {
                        match (key.as_str(), merged.get_mut(key)) {
                            ("properties", Some(Value::Object(have))) => {
                                if let Value::Object(more) = value {
                                    for (k, v) in more {
                                        have.entry(k.clone()).or_insert_with(|| v.clone());
                                    }
                                }
                            }
                            ("required", Some(Value::Array(have))) => {
                                if let Value::Array(more) = value {
                                    have.extend(more.iter().cloned());
                                }
                            }
                            (_, Some(_)) => {}
                            (_, None) => {
                                merged.insert(key.clone(), value.clone());
                            }
                        }
                    }
                }
            }
            self.drop(path, "allOf (merged)");
        }
        let object = &merged;
        // type: one name; ["x", "null"] is x and nullable; several become anyOf.
        let mut types: Vec<String> = match object.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| t == "null") {
            types.retain(|t| t != "null");
            out.insert("nullable".into(), Value::Bool(true));
        }
        types.retain(|t| {
            let known = TYPES.contains(&t.as_str());
            if !known {
                self.dropped.push(format!("{}: type {t}", if path.is_empty() { "/" } else { path }));
            }
            known
        });
        if types.is_empty() && (object.contains_key("properties")) {
            types.push("object".into());
        }
        if types.is_empty() && object.contains_key("items") {
            types.push("array".into());
        }
        match types.len() {
            0 => {}
            1 => {
                out.insert("type".into(), Value::from(types[0].clone()));
            }
            _ => {
                let variants = types
                    .iter()
                    .map(|t| {
                        let mut one = object.clone();
                        one.insert("type".into(), Value::from(t.clone()));
                        self.node(&Value::Object(one), path, depth + 1)
                    })
                    .collect();
                return Value::Object(Map::from_iter([("anyOf".to_owned(), Value::Array(variants))]));
            }
        }
        let kind = types.first().map(String::as_str);
        for (key, value) in object {
            let here = format!("{path}/{key}");
            match key.as_str() {
                "type" | "allOf" => {}
                k if KEPT.contains(&k) => {
                    out.insert(key.clone(), value.clone());
                }
                "format" => match (kind, value.as_str()) {
                    (Some(kind), Some(format)) if FORMATS.contains(&(kind, format)) => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => self.drop(path, &format!("format {}", value.as_str().unwrap_or("?"))),
                },
                "enum" | "const" => {
                    let values: Vec<Value> = match value {
                        Value::Array(values) if key == "enum" => values.clone(),
                        other => vec![other.clone()],
                    };
                    let strings: Option<Vec<Value>> =
                        values.iter().map(|v| v.as_str().map(|s| Value::from(s.to_owned()))).collect();
                    match strings {
                        Some(strings) if kind.is_none_or(|k| k == "string") => {
                            out.insert("type".into(), Value::from("string"));
                            out.insert("enum".into(), Value::Array(strings));
                            if key == "const" {
                                self.drop(path, "const (as a one-value enum)");
                            }
                        }
                        _ => self.drop(path, &format!("{key} (not strings)")),
                    }
                }
                "properties" => {
                    let Some(properties) = value.as_object() else { continue };
                    let mut kept = Map::new();
                    for (name, property) in properties {
                        kept.insert(name.clone(), self.node(property, &format!("{here}/{name}"), depth));
                    }
                    if !kept.is_empty() {
                        out.insert(key.clone(), Value::Object(kept));
                    }
                }
                "items" => {
                    let items = match value {
                        Value::Array(tuple) => {
                            self.drop(path, "items as a tuple (first kept)");
                            tuple.first().cloned().unwrap_or(Value::Object(Map::new()))
                        }
                        one => one.clone(),
                    };
                    out.insert(key.clone(), self.node(&items, &here, depth));
                }
                "anyOf" | "oneOf" => {
                    let Some(variants) = value.as_array() else { continue };
                    let mut nullable = false;
                    let mut kept: Vec<Value> = Vec::new();
                    for (i, variant) in variants.iter().enumerate() {
                        if variant.get("type").and_then(Value::as_str) == Some("null") {
                            nullable = true;
                            continue;
                        }
                        kept.push(self.node(variant, &format!("{path}/anyOf/{i}"), depth));
                    }
                    if key == "oneOf" {
                        self.drop(path, "oneOf (read as anyOf)");
                    }
                    if nullable {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    if kept.len() == 1 {
                        // `Option<T>` as schemars writes it: T, nullable.
                        if let Some(Value::Object(one)) = kept.pop() {
                            for (k, v) in one {
                                out.entry(k).or_insert(v);
                            }
                        }
                    } else if !kept.is_empty() {
                        out.insert("anyOf".into(), Value::Array(kept));
                    }
                }
                "required" => {}
                "$schema" | "$id" | "$comment" | "$defs" | "definitions" => {}
                other => self.drop(path, other),
            }
        }
        // required: only properties that are there.
        if let (Some(Value::Array(required)), Some(Value::Object(properties))) =
            (object.get("required"), out.get("properties"))
        {
            let mut kept: Vec<Value> = Vec::new();
            for name in required.iter().filter_map(Value::as_str) {
                if properties.contains_key(name) && !kept.iter().any(|k| k == name) {
                    kept.push(Value::from(name));
                }
            }
            if !kept.is_empty() {
                out.insert("required".into(), Value::Array(kept));
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_are_inlined_and_unsupported_keywords_dropped_and_named() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "path": {"type": "string", "description": "where", "format": "uri"},
                "mode": {"const": "fast"},
                "when": {"type": "string", "format": "date-time"},
                "count": {"type": ["integer", "null"], "minimum": 1, "exclusiveMaximum": 10},
                "opts": {"$ref": "#/$defs/Opts"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "maybe": {"anyOf": [{"$ref": "#/$defs/Opts"}, {"type": "null"}]}
            },
            "required": ["path", "ghost"],
            "$defs": {"Opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}, "additionalProperties": false}}
        });
        let (out, dropped) = translate(&schema);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "where"},
                    "mode": {"type": "string", "enum": ["fast"]},
                    "when": {"type": "string", "format": "date-time"},
                    "count": {"type": "integer", "nullable": true, "minimum": 1},
                    "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                    "maybe": {"nullable": true, "type": "object", "properties": {"deep": {"type": "boolean"}}}
                },
                "required": ["path"]
            })
        );
        assert_eq!(
            dropped,
            [
                "/: additionalProperties",
                "/properties/path: format uri",
                "/properties/mode: const (as a one-value enum)",
                "/properties/count: exclusiveMaximum",
                "/properties/opts: additionalProperties",
                "/properties/tags: uniqueItems",
                "/properties/either: oneOf (read as anyOf)",
                "/properties/maybe/anyOf/0: additionalProperties",
            ]
        );
        assert!(!out.to_string().contains('$'));
    }

    #[test]
    fn a_recursive_schema_ends_and_a_missing_or_odd_root_is_an_empty_object() {
        let schema = json!({"type": "object", "properties": {"node": {"$ref": "#"}}});
        let (out, dropped) = translate(&schema);
        assert!(out.to_string().len() < 2000, "{out}");
        assert!(dropped.iter().any(|d| d.contains("recursive")), "{dropped:?}");
        assert_eq!(translate(&json!({})), (json!({"type": "object"}), vec![]));
        assert_eq!(translate(&json!({"type": "string"})).0, json!({"type": "object"}));
        assert_eq!(translate(&json!({"type": "string"})).1, ["/: not an object schema"]);
    }

    #[test]
    fn all_of_merges_its_parts() {
        let schema = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]}
        ]});
        let (out, dropped) = translate(&schema);
        assert_eq!(
            out,
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a", "b"]})
        );
        assert_eq!(dropped, ["/: allOf (merged)"]);
    }
}
