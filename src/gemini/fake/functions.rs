//! The fake's function calling, as Gemini does it: it reads `tools[].functionDeclarations`
//! (an invalid name, a duplicate or a schema field Gemini does not know is its 400), answers with
//! `functionCall` parts that carry an `id` (Gemini 3) and a `thoughtSignature`, several at once
//! when asked, and checks every request that sends calls back: for a Gemini 3 model a
//! `functionCall` part without the signature it was given is the real 400, and so is a
//! `functionResponse` whose id or name matches no call of the model turn before it.
//!
//! How a prompt asks the fake to call a tool (directives in the last user text):
//! - `[[call NAME {"arg": 1}]]` calls NAME once with those arguments (several directives: parallel
//!   calls in one response); once the results are back it answers in text that quotes them
//!   (`NAME answered {...}`), so a test sees what the model received.
//! - `[[call* NAME {...}]]` calls it again after every result (a model that never stops: the
//!   step limit); without tools offered it answers in text.
//! - `[[malformed]]` ends the answer with `finishReason: MALFORMED_FUNCTION_CALL`.
//!
//! The `--demo` model calls an offered tool whose name (or every longer word of it) the prompt
//! mentions, its required arguments made up.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// A call the fake gave: its name and the signature it carried.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Issued {
    pub name: String,
    pub signature: String,
}

/// What the fake does about functions for one request.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    /// Nothing: answer as scripted.
    None,
    /// Call these `(name, args)`, after this text.
    Call { text: String, calls: Vec<(String, Value)> },
    /// End with `MALFORMED_FUNCTION_CALL`.
    Malformed,
    /// Answer in this text (quoting the results the request sent).
    Answer(String),
}

const SCHEMA_FIELDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

const TYPES: &[&str] = &["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"];

/// Whether `name` is a function name Gemini takes.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// The declared functions of a request (`name` → its declaration), or the message of Gemini's 400.
pub(super) fn declarations(body: &Value) -> Result<Vec<Value>, String> {
    let mut out: Vec<Value> = Vec::new();
    let Some(tools) = body.get("tools").and_then(Value::as_array) else { return Ok(out) };
    for (i, tool) in tools.iter().enumerate() {
        let Some(list) = tool.get("functionDeclarations").or_else(|| tool.get("function_declarations")) else {
            continue;
        };
        let Some(list) = list.as_array() else {
            return Err(format!(
                "Invalid JSON payload received. Invalid value at 'tools[{i}].function_declarations', expected a list."
            ));
        };
        for (j, declaration) in list.iter().enumerate() {
            let at = format!("tools[{i}].function_declarations[{j}]");
            let name = declaration.get("name").and_then(Value::as_str).unwrap_or_default();
            if !valid_name(name) {
                return Err(format!(
                    "* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64."
                ));
            }
            if out.iter().any(|d| d["name"] == name) {
                return Err(format!("Duplicate function declaration found: {name}"));
            }
            if let Some(fields) = declaration.as_object() {
                for key in fields.keys() {
                    if !["name", "description", "parameters", "parametersJsonSchema", "response", "behavior"]
                        .contains(&key.as_str())
                    {
                        return Err(format!(
                            "Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."
                        ));
                    }
                }
            }
            if let Some(schema) = declaration.get("parameters") {
                check_schema(schema, &format!("{at}.parameters"))?;
            }
            out.push(declaration.clone());
        }
    }
    Ok(out)
}

/// A `parameters` schema as Gemini's OpenAPI subset takes it.
fn check_schema(schema: &Value, at: &str) -> Result<(), String> {
    let Some(fields) = schema.as_object() else {
        return Err(format!("Invalid JSON payload received. Invalid value at '{at}', expected an object."));
    };
    for (key, value) in fields {
        if !SCHEMA_FIELDS.contains(&key.as_str()) {
            return Err(format!("Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."));
        }
        match key.as_str() {
            "type" if !value.as_str().is_some_and(|t| TYPES.contains(&t.to_ascii_uppercase().as_str())) => {
                return Err(format!(
                    "Invalid JSON payload received. Invalid value at '{at}.type' ({value}): not a known type."
                ));
            }
            "properties" => {
                for (name, inner) in value.as_object().into_iter().flatten() {
                    check_schema(inner, &format!("{at}.properties[{name}].value"))?;
                }
            }
            "items" => check_schema(value, &format!("{at}.items"))?,
            "anyOf" => {
                for (k, inner) in value.as_array().into_iter().flatten().enumerate() {
                    check_schema(inner, &format!("{at}.any_of[{k}]"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Gemini 3 wants every call sent back with its signature.
fn needs_signature(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// The 400 for calls sent back wrong: a missing or changed signature (Gemini 3), or a result
/// that answers no call of the model turn before it.
pub(super) fn check_history(body: &Value, model: &str, issued: &HashMap<String, Issued>) -> Result<(), String> {
    let contents = body.get("contents").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut position = 0;
    let mut previous_calls: Vec<(Option<String>, String)> = Vec::new();
    for content in &contents {
        let parts = content.get("parts").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut calls = Vec::new();
        for part in &parts {
            if let Some(call) = part.get("functionCall") {
                position += 1;
                let name = call.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
                let signature = part.get("thoughtSignature").and_then(Value::as_str);
                let given = id.as_ref().and_then(|id| issued.get(id));
                let wrong = match (signature, given) {
                    (None, _) => needs_signature(model),
                    (Some(sent), Some(given)) => sent != given.signature || name != given.name,
                    (Some(_), None) => false,
                };
                if wrong {
                    return Err(format!(
                        "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                    ));
                }
                calls.push((id, name));
            }
            if let Some(response) = part.get("functionResponse") {
                let name = response.get("name").and_then(Value::as_str).unwrap_or_default();
                let id = response.get("id").and_then(Value::as_str);
                let answers = previous_calls.iter().any(|(call_id, call_name)| {
                    call_name == name
                        && (id.is_none() || call_id.as_deref() == id)
                        && (call_id.is_none() || id.is_some())
                });
                if !answers {
                    return Err(format!(
                        "Please ensure that function response turn comes immediately after a function call turn. The function response for {name} (id {}) matches no function call.",
                        id.unwrap_or("none")
                    ));
                }
            }
        }
        previous_calls = calls;
    }
    Ok(())
}

/// The results the request's last turn sends (`name`, `response`), if it is a results turn.
fn results(body: &Value) -> Vec<(String, Value)> {
    let last = body.get("contents").and_then(Value::as_array).and_then(|c| c.last());
    let parts = last.and_then(|c| c.get("parts")).and_then(Value::as_array).cloned().unwrap_or_default();
    parts
        .iter()
        .filter_map(|p| p.get("functionResponse"))
        .map(|r| (r.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(), r["response"].clone()))
        .collect()
}

/// The text of the last user turn that has text (the question the calls are about).
fn question(body: &Value) -> String {
    let contents = body.get("contents").and_then(Value::as_array).cloned().unwrap_or_default();
    contents
        .iter()
        .rev()
        .filter(|c| c.get("role").and_then(Value::as_str) != Some("model"))
        .map(|c| {
            c.get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

/// What to do about functions for this request.
pub(super) fn plan(body: &Value, declared: &[Value], demo: bool) -> Plan {
    let asked = question(body);
    if asked.contains("[[malformed]]") {
        return Plan::Malformed;
    }
    let answered = results(body);
    let wanted = crate::fake_runtime::tool_directives(&asked);
    let offered = !declared.is_empty();
    let calls: Vec<(String, Value)> = wanted
        .iter()
        .filter(|(repeat, _, _)| offered && (answered.is_empty() || *repeat))
        .map(|(_, name, args)| (name.clone(), args.clone()))
        .collect();
    if !calls.is_empty() {
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        return Plan::Call { text: format!("Let me use {}. ", names.join(" and ")), calls };
    }
    if !answered.is_empty() {
        let quoted: Vec<String> =
            answered.iter().map(|(name, response)| format!("{name} answered {response}")).collect();
        return Plan::Answer(format!("The tools said: {}.", quoted.join("; ")));
    }
    if demo && offered && wanted.is_empty() {
        let lower = asked.to_lowercase();
        let mentioned = declared.iter().find(|d| {
            let name = d["name"].as_str().unwrap_or_default().to_lowercase();
            let bare = name.rsplit(['.', ':']).next().unwrap_or(&name).to_owned();
            // Its name, or every longer word of it (`get_current_time`: "current", "time").
            let words: Vec<&str> = bare.split(['_', '-']).filter(|w| w.len() >= 4).collect();
            !bare.is_empty()
                && (lower.contains(&bare) || (!words.is_empty() && words.iter().all(|w| lower.contains(w))))
        });
        if let Some(declaration) = mentioned {
            let name = declaration["name"].as_str().unwrap_or_default().to_owned();
            let args = demo_arguments(&declaration["parameters"], &asked);
            return Plan::Call { text: format!("I'll ask the {name} tool. "), calls: vec![(name, args)] };
        }
    }
    Plan::None
}

/// Arguments for the schema's required properties, made up from the prompt.
fn demo_arguments(schema: &Value, prompt: &str) -> Value {
    let mut args = Map::new();
    let required = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        let kind = schema["properties"][name]["type"].as_str().unwrap_or("string").to_ascii_lowercase();
        let value = match kind.as_str() {
            "integer" | "number" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!(crate::sanitize::one_line(prompt, 60)),
        };
        args.insert(name.to_owned(), value);
    }
    Value::Object(args)
}

/// The parts of a call response: the text, then one `functionCall` per call, each with an id
/// (Gemini 3) and a signature the fake remembers, so it can check what comes back.
pub(super) fn call_parts(
    model: &str,
    calls: &[(String, Value)],
    next: &mut dyn FnMut() -> u64,
) -> Vec<(Value, Issued)> {
    calls
        .iter()
        .map(|(name, args)| {
            let n = next();
            let signature = base64_of(&format!("fake-signature-{n}-{name}"));
            let mut call = json!({ "name": name, "args": args });
            if needs_signature(model) {
                call["id"] = json!(format!("call_{n:06x}"));
            }
            let part = json!({ "functionCall": call, "thoughtSignature": signature });
            (part, Issued { name: name.clone(), signature })
        })
        .collect()
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_schemas_are_checked_as_gemini_checks_them() {
        assert!(valid_name("fs.read_file") && valid_name("_x:y-z") && !valid_name("9lives") && !valid_name("a b"));
        assert!(!valid_name(&"a".repeat(65)));
        let body = |decl: Value| json!({ "tools": [{ "functionDeclarations": [decl] }] });
        let ok = json!({"name": "f", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}});
        assert_eq!(declarations(&body(ok)).unwrap().len(), 1);
        let bad = json!({"name": "f", "parameters": {"type": "object", "additionalProperties": false}});
        assert!(declarations(&body(bad)).unwrap_err().contains("Unknown name \"additionalProperties\""));
        let deep = json!({"name": "f", "parameters": {"type": "object", "properties": {"q": {"$ref": "#/x"}}}});
        assert!(declarations(&body(deep)).unwrap_err().contains("\"$ref\""));
        assert!(declarations(&body(json!({"name": "bad name"}))).unwrap_err().contains("Invalid function name"));
    }

    #[test]
    fn directives_call_once_then_quote_the_results() {
        let declared = vec![json!({"name": "f"})];
        let ask = json!({"contents": [{"role": "user", "parts": [{"text": "go [[call f {\"a\":1}]] [[call g]]"}]}]});
        let Plan::Call { calls, .. } = plan(&ask, &declared, false) else { panic!() };
        assert_eq!(calls, vec![("f".to_owned(), json!({"a": 1})), ("g".to_owned(), json!({}))]);
        let mut after = ask.clone();
        after["contents"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}));
        after["contents"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"v": 2}}}]}));
        assert_eq!(plan(&after, &declared, false), Plan::Answer("The tools said: f answered {\"v\":2}.".into()));
        assert_eq!(plan(&ask, &[], false), Plan::None, "nothing offered, nothing called");
    }

    #[test]
    fn calls_sent_back_are_checked_against_the_ones_given() {
        let issued: HashMap<String, Issued> =
            [("call_1".to_owned(), Issued { name: "f".into(), signature: "c2ln".into() })].into();
        let body = |call: Value, response: Value| {
            json!({"contents": [
                {"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [call]},
                {"role": "user", "parts": [{"functionResponse": response}]}
            ]})
        };
        let response = json!({"id": "call_1", "name": "f", "response": {}});
        let exact = json!({"functionCall": {"id": "call_1", "name": "f", "args": {}}, "thoughtSignature": "c2ln"});
        assert_eq!(check_history(&body(exact.clone(), response.clone()), "gemini-3-flash-preview", &issued), Ok(()));
        let bare = json!({"functionCall": {"id": "call_1", "name": "f", "args": {}}});
        let missing = check_history(&body(bare.clone(), response.clone()), "gemini-3-flash-preview", &issued);
        assert!(missing.unwrap_err().contains("missing a thought_signature"));
        assert_eq!(check_history(&body(bare, response.clone()), "gemini-2.5-flash", &issued), Ok(()), "2.5 is lenient");
        let changed = json!({"functionCall": {"id": "call_1", "name": "f", "args": {}}, "thoughtSignature": "c2lo"});
        assert!(check_history(&body(changed, response), "gemini-3-flash-preview", &issued).is_err());
        let stray = json!({"id": "call_9", "name": "f", "response": {}});
        assert!(
            check_history(&body(exact, stray), "gemini-3-flash-preview", &issued)
                .unwrap_err()
                .contains("matches no function call")
        );
    }

    #[test]
    fn the_demo_calls_an_offered_tool_the_prompt_names() {
        let declared = vec![json!({"name": "time.get_current_time", "parameters": {
            "type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}})];
        let ask = json!({"contents": [{"role": "user", "parts": [{"text": "What is the current time in Paris?"}]}]});
        let Plan::Call { calls, .. } = plan(&ask, &declared, true) else { panic!("{:?}", plan(&ask, &declared, true)) };
        assert_eq!(calls[0].0, "time.get_current_time");
        assert!(calls[0].1["timezone"].is_string(), "required arguments filled: {:?}", calls[0].1);
        assert_eq!(plan(&ask, &declared, false), Plan::None, "only the demo guesses");
        let other = json!({"contents": [{"role": "user", "parts": [{"text": "Tell me about birds"}]}]});
        assert_eq!(plan(&other, &declared, true), Plan::None, "a prompt that does not ask for it");
    }
}
