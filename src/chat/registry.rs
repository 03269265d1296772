//! The registry of generation settings: each setting is declared once, in [`SETTINGS`], with
//! every name it goes by, its kind (a number in a range, a count of tokens, a whole number, a
//! switch, a list of texts, a thinking level, a JSON schema), its description and an example.
//! Every surface is driven by this table: `Settings::with`, `summary` and `validate`, `/set`
//! (reading and its list of names), the command-line flags (`cli/generation.rs` builds its clap
//! arguments from it), the config file's keys and a role's, a batch line's fields, the JSON the
//! history and the job lines store (`Settings`' serde), and `config show` with its provenance.
//!
//! Spelling: one name per setting. Where people type it (the flag `--top-p`, `/set top-p`) it is
//! written with `-`; where a file holds it (TOML keys, JSON fields, the stored settings) the same
//! words are written with `_` (`top_p`), as TOML keys are. When a name is looked up, case and
//! `-` / `_` do not matter, and older spellings (`thoughts`, `urlcontext`) stay accepted as aliases.

use serde::{Deserialize, Serialize};

use super::settings::{MAX_STOP_SEQUENCES, Settings, SettingsError};
use crate::llm::Thinking;
use crate::sanitize::one_line;

/// One setting's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Switch(bool),
    Number(f32),
    Tokens(u32),
    Integer(i64),
    Texts(Vec<String>),
    Thinking(Thinking),
    Json(serde_json::Value),
}

/// What kind of value a setting takes: how it is read, checked and shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A number from `min` to `max`.
    Number { min: f32, max: f32 },
    /// A count of tokens, at least 1.
    Tokens,
    /// A whole number (negative ones too).
    Integer,
    /// On or off; on the command line `--NAME` and `--no-NAME`.
    Switch,
    /// Texts, at most `most`, none empty (typed as `a|b`; a flag is repeated).
    Texts { most: usize },
    /// `off`, `low`, `medium`, `high` or a budget in tokens.
    Thinking,
    /// A JSON Schema document (a JSON object).
    Schema,
}

/// One generation setting, declared once.
pub struct Spec {
    /// Its name in files: TOML keys, JSON fields, the stored settings, `config show`.
    pub key: &'static str,
    /// Its name where it is typed: `--NAME` and `/set NAME`.
    pub name: &'static str,
    /// Older names still accepted (written with `-`).
    pub aliases: &'static [&'static str],
    /// Its own slash command, when it has one (`/search`).
    pub command: Option<&'static str>,
    pub kind: Kind,
    /// Whether the common generation flags carry it (`--json-schema FILE`, which reads a file,
    /// is declared by the commands that take it).
    pub flag: bool,
    /// The flag's value name (`--top-p P`).
    pub value_name: &'static str,
    /// What it does, for `--help`.
    pub help: &'static str,
    /// For a switch: its `--no-NAME` flag, and what it does.
    pub off_name: &'static str,
    pub off_help: &'static str,
    /// How a sentence names it ("The temperature must be...").
    pub what: &'static str,
    /// How the summary shows it: before its value, or for a switch or a schema alone.
    pub label: &'static str,
    /// For a switch: what `/set` says when it turns it on, and off.
    pub said: Option<(&'static str, &'static str)>,
    /// A valid value as typed (tests drive every surface with it).
    pub example: &'static str,
    get: Getter,
    put: Putter,
}

/// How a setting is read from, and written to, [`Settings`].
type Getter = fn(&Settings) -> Option<Value>;
type Putter = fn(&mut Settings, Option<Value>);

macro_rules! field {
    ($field:ident, $variant:ident) => {
        (
            |s: &Settings| s.$field.clone().map(Value::$variant),
            |s: &mut Settings, v: Option<Value>| {
                s.$field = match v {
                    Some(Value::$variant(x)) => Some(x),
                    _ => None,
                }
            },
        )
    };
}

const fn spec(key: &'static str, name: &'static str, kind: Kind, (get, put): (Getter, Putter)) -> Spec {
    Spec {
        key,
        name,
        aliases: &[],
        command: None,
        kind,
        flag: true,
        value_name: "",
        help: "",
        off_name: "",
        off_help: "",
        what: name,
        label: name,
        said: None,
        example: "",
        get,
        put,
    }
}

/// Every generation setting, in the order they are listed and shown.
pub static SETTINGS: &[Spec] = &[
    Spec {
        command: Some("/thinking"),
        value_name: "LEVEL",
        help: "How much the model thinks: off, low, medium, high or a budget in tokens (a level on Gemini 3, a budget on 2.5; refused when the model cannot take it)",
        example: "high",
        ..spec("thinking", "thinking", Kind::Thinking, field!(thinking, Thinking))
    },
    Spec {
        aliases: &["thoughts"],
        command: Some("/thoughts"),
        help: "Ask for the model's thought summaries and show them dimmed above the answer (on a pipe they go to stderr; never into the answer)",
        off_name: "no-show-thoughts",
        off_help: "Do not ask for thoughts (for a config file or conversation that has them on)",
        label: "thoughts shown",
        example: "on",
        ..spec("show_thoughts", "show-thoughts", Kind::Switch, field!(show_thoughts, Switch))
    },
    Spec {
        value_name: "T",
        help: "Sampling temperature, 0 to 2",
        what: "The temperature",
        example: "0.4",
        ..spec("temperature", "temperature", Kind::Number { min: 0.0, max: 2.0 }, field!(temperature, Number))
    },
    Spec {
        value_name: "P",
        help: "Nucleus sampling, 0 to 1",
        example: "0.9",
        ..spec("top_p", "top-p", Kind::Number { min: 0.0, max: 1.0 }, field!(top_p, Number))
    },
    Spec {
        value_name: "N",
        help: "The most tokens the answer may have (maxOutputTokens)",
        what: "The output limit (max-tokens)",
        example: "500",
        ..spec("max_tokens", "max-tokens", Kind::Tokens, field!(max_tokens, Tokens))
    },
    Spec {
        value_name: "N",
        help: "A seed, for answers that repeat more often",
        what: "The seed",
        example: "-7",
        ..spec("seed", "seed", Kind::Integer, field!(seed, Integer))
    },
    Spec {
        value_name: "TEXT",
        help: "Stop the answer where this text appears (repeatable, at most 5)",
        what: "stop sequence",
        example: "END",
        ..spec("stop", "stop", Kind::Texts { most: MAX_STOP_SEQUENCES }, field!(stop, Texts))
    },
    Spec {
        flag: false,
        help: "A JSON Schema the answer must follow (the answer is then JSON)",
        what: "The JSON schema",
        label: "JSON schema",
        example: r#"{"type": "object"}"#,
        ..spec("json_schema", "json-schema", Kind::Schema, field!(json_schema, Json))
    },
    Spec {
        command: Some("/search"),
        help: "Ground the answer in Google Search: it shows numbered markers and its sources below (never answered from the cache)",
        off_name: "no-search",
        off_help: "Do not use Google Search (for a conversation or config that has it on)",
        said: Some(("Google Search is on: answers show their sources.", "Google Search is off.")),
        example: "on",
        ..spec("search", "search", Kind::Switch, field!(search, Switch))
    },
    Spec {
        aliases: &["urlcontext"],
        command: Some("/url-context"),
        help: "Let the model read the pages whose URLs the prompt holds (URL context)",
        off_name: "no-url-context",
        off_help: "Do not use URL context (for a conversation or config that has it on)",
        label: "URL context",
        said: Some((
            "URL context is on: the model reads the pages whose links the prompt holds.",
            "URL context is off.",
        )),
        example: "on",
        ..spec("url_context", "url-context", Kind::Switch, field!(url_context, Switch))
    },
];

/// `Top_P` → `top-p`: how names are compared.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The setting `name` means: its name, its key or an alias, whatever the case and `-` / `_`.
pub fn find(name: &str) -> Option<&'static Spec> {
    let name = normalize(name);
    SETTINGS.iter().find(|s| s.name == name || s.aliases.contains(&name.as_str()))
}

/// The setting whose file key is exactly `key` (`config show`'s rows).
pub fn by_key(key: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// "thinking, show-thoughts, …, search or url-context": the names `/set` takes.
pub fn names() -> String {
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// A serde "unknown field" message for a table whose settings were taken out before serde read
/// the rest: the closest name, among the fields serde lists and the settings' keys, when one is
/// close (`temprature`: did you mean `temperature`?), else serde's list with the keys added.
/// Any other message, and one about a field of a nested table (`at_top` says whether the
/// field is one of the table's own keys), is returned unchanged.
pub fn with_setting_keys(message: String, at_top: impl Fn(&str) -> bool) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message };
    let Some((typed, expected)) = rest.split_once('`') else { return message };
    if !at_top(typed) {
        return message;
    }
    let listed = expected.split('`').skip(1).step_by(2);
    let closest = listed
        .chain(SETTINGS.iter().map(|s| s.key))
        .map(|name| (strsim::jaro_winkler(typed, name), name))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, name)) => format!("unknown field `{typed}`: did you mean `{name}`?"),
        None if expected.contains("expected") => {
            let keys: Vec<String> = SETTINGS.iter().map(|s| format!("`{}`", s.key)).collect();
            format!("{message}, {}", keys.join(", "))
        }
        None => message,
    }
}

fn bad<T>(text: String) -> Result<T, SettingsError> {
    Err(SettingsError(text))
}

impl Spec {
    /// Its value in `settings`.
    pub fn get(&self, settings: &Settings) -> Option<Value> {
        (self.get)(settings)
    }

    /// Sets (or with `None` removes) its value in `settings`.
    pub fn put(&self, settings: &mut Settings, value: Option<Value>) {
        (self.put)(settings, value)
    }

    pub fn is_switch(&self) -> bool {
        self.kind == Kind::Switch
    }

    /// The value as typed on the command line or after `/set NAME` (a switch: on/off, yes/no,
    /// true/false; texts: `a|b`).
    pub fn parse_text(&self, text: &str) -> Result<Value, SettingsError> {
        let text = text.trim();
        let shown = || one_line(text, 20);
        Ok(match self.kind {
            Kind::Number { .. } => match text.parse::<f32>() {
                Ok(v) if v.is_finite() => Value::Number(v),
                _ => return bad(format!("{} must be a number, not \"{}\".", self.what, shown())),
            },
            Kind::Tokens => Value::Tokens(
                text.parse::<u32>()
                    .or_else(|_| bad(format!("{} must be a whole number of tokens, at least 1.", self.what)))?,
            ),
            Kind::Integer => {
                Value::Integer(text.parse::<i64>().or_else(|_| bad(format!("{} must be a whole number.", self.what)))?)
            }
            Kind::Switch => match text.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" => Value::Switch(true),
                "off" | "false" | "no" => Value::Switch(false),
                _ => return bad(format!("{} is on or off.", self.name)),
            },
            Kind::Texts { .. } => Value::Texts(text.split('|').map(str::to_owned).filter(|s| !s.is_empty()).collect()),
            Kind::Thinking => Value::Thinking(text.parse().map_err(SettingsError)?),
            Kind::Schema => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => Value::Json(v),
                Err(_) => return bad(format!("{} must be a JSON object (a JSON Schema document).", self.what)),
            },
        })
    }

    /// The value as a file or a JSON line holds it (`null`: not set).
    pub fn parse_json(&self, value: serde_json::Value) -> Result<Option<Value>, SettingsError> {
        use serde_json::Value as J;
        let shown = |v: &J| one_line(&v.to_string(), 20);
        Ok(Some(match (self.kind, value) {
            (_, J::Null) => return Ok(None),
            (Kind::Number { .. }, J::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {
                Value::Number(n.as_f64().unwrap_or_default() as f32)
            }
            (Kind::Number { .. }, v) => return bad(format!("{} must be a number, not {}.", self.what, shown(&v))),
            (Kind::Tokens, J::Number(n)) if n.as_u64().is_some_and(|n| u32::try_from(n).is_ok()) => {
                Value::Tokens(n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_default())
            }
            (Kind::Tokens, _) => return bad(format!("{} must be a whole number of tokens, at least 1.", self.what)),
            (Kind::Integer, J::Number(n)) if n.as_i64().is_some() => Value::Integer(n.as_i64().unwrap_or_default()),
            (Kind::Integer, _) => return bad(format!("{} must be a whole number.", self.what)),
            (Kind::Switch, J::Bool(b)) => Value::Switch(b),
            (Kind::Switch, v) => return bad(format!("{} must be true or false, not {}.", self.key, shown(&v))),
            (Kind::Texts { .. }, J::Array(items)) if items.iter().all(J::is_string) => {
                Value::Texts(items.into_iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
            }
            (Kind::Texts { .. }, _) => return bad(format!("{} must be a list of texts, such as [\"END\"].", self.key)),
            (Kind::Thinking, J::String(text)) => Value::Thinking(text.parse().map_err(SettingsError)?),
            (Kind::Thinking, v) => Value::Thinking(v.to_string().parse().map_err(SettingsError)?),
            (Kind::Schema, v) => Value::Json(v),
        }))
    }

    /// Whether `value` is one the API accepts (whatever the model).
    fn check(&self, value: &Value) -> Result<(), SettingsError> {
        match (self.kind, value) {
            (Kind::Number { min, max }, Value::Number(v)) if !(min..=max).contains(v) => {
                bad(format!("{} must be between {min} and {max}, not {v}.", self.what))
            }
            (Kind::Tokens, Value::Tokens(0)) => bad(format!("{} must be at least 1.", self.what)),
            (Kind::Texts { most }, Value::Texts(texts)) if texts.len() > most => {
                bad(format!("Gemini takes at most {most} {}s, not {}.", self.what, texts.len()))
            }
            (Kind::Texts { .. }, Value::Texts(texts)) if texts.iter().any(String::is_empty) => {
                bad(format!("A {} cannot be empty.", self.what))
            }
            (Kind::Schema, Value::Json(v)) if !(v.is_object() || v.is_boolean()) => {
                bad(format!("{} must be a JSON object (a JSON Schema document).", self.what))
            }
            _ => Ok(()),
        }
    }

    /// Its part of the one-line summary (`None` when it says nothing: unset, off, no texts).
    fn summary(&self, value: &Value) -> Option<String> {
        Some(match value {
            Value::Switch(false) => return None,
            Value::Switch(true) | Value::Json(_) => self.label.to_owned(),
            Value::Texts(texts) if texts.is_empty() => return None,
            Value::Texts(texts) => {
                let quoted: Vec<String> = texts.iter().map(|s| format!("{:?}", one_line(s, 20))).collect();
                format!("{} {}", self.label, quoted.join(" "))
            }
            Value::Number(v) => format!("{} {v}", self.label),
            Value::Tokens(v) => format!("{} {v}", self.label),
            Value::Integer(v) => format!("{} {v}", self.label),
            Value::Thinking(v) => format!("{} {v}", self.label),
        })
    }

    /// Its value for `config show`: what is set, or what stands in.
    pub fn show(&self, settings: &Settings) -> String {
        match (self.kind, self.get(settings)) {
            (Kind::Switch, v) => (v == Some(Value::Switch(true))).to_string(),
            (Kind::Texts { .. }, Some(Value::Texts(t))) if !t.is_empty() => {
                t.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
            }
            (Kind::Texts { .. } | Kind::Schema, Some(Value::Json(v))) => v.to_string(),
            (Kind::Texts { .. } | Kind::Schema, _) => "(none)".to_owned(),
            (_, None) => "(the model's default)".to_owned(),
            (_, Some(Value::Number(v))) => v.to_string(),
            (_, Some(Value::Tokens(v))) => v.to_string(),
            (_, Some(Value::Integer(v))) => v.to_string(),
            (_, Some(Value::Thinking(v))) => v.to_string(),
            (_, Some(v)) => format!("{v:?}"),
        }
    }
}

/// `over`'s values over `base`'s.
pub(super) fn with(base: &Settings, over: &Settings) -> Settings {
    let mut out = base.clone();
    for spec in SETTINGS {
        if let Some(value) = spec.get(over) {
            spec.put(&mut out, Some(value));
        }
    }
    out
}

pub(super) fn validate(settings: &Settings) -> Result<(), SettingsError> {
    for spec in SETTINGS {
        if let Some(value) = spec.get(settings) {
            spec.check(&value)?;
        }
    }
    Ok(())
}

pub(super) fn summary(settings: &Settings) -> String {
    let parts: Vec<String> =
        SETTINGS.iter().filter_map(|spec| spec.get(settings).and_then(|v| spec.summary(&v))).collect();
    parts.join(" · ")
}

/// `/set NAME VALUE` on `settings` (VALUE `default` or `clear` removes it; a switch alone or
/// `toggle` flips it); the sentence to say. A refused value changes nothing.
pub(super) fn set(settings: &mut Settings, name: &str, value: &str) -> Result<String, SettingsError> {
    let value = value.trim();
    let clear = value.eq_ignore_ascii_case("default") || value.eq_ignore_ascii_case("clear");
    let typed = normalize(name);
    let Some(spec) = find(&typed) else {
        return bad(format!("{} is not a setting: use {}.", one_line(&typed, 20), names()));
    };
    let new = if clear {
        None
    } else if spec.is_switch() && (value.is_empty() || value.eq_ignore_ascii_case("toggle")) {
        Some(Value::Switch(spec.get(settings) != Some(Value::Switch(true))))
    } else {
        Some(
            spec.parse_text(value)
                .map_err(|e| if spec.is_switch() { SettingsError(format!("{typed} is on or off.")) } else { e })?,
        )
    };
    let mut next = settings.clone();
    spec.put(&mut next, new.clone());
    validate(&next)?;
    *settings = next;
    Ok(match (spec.said, new) {
        (Some((on, _)), Some(Value::Switch(true))) => on.to_owned(),
        (Some((_, off)), _) => off.to_owned(),
        (None, None) => format!("{typed} is back to its default."),
        (None, Some(Value::Switch(on))) => format!("{typed} set to {}.", if on { "on" } else { "off" }),
        (None, Some(_)) => format!("{typed} set to {value}."),
    })
}

/// Takes every setting out of `fields` (by key, name or alias) and reads them; the other
/// fields stay. A value of the wrong kind, or one setting given twice, is refused.
pub fn take_from(fields: &mut serde_json::Map<String, serde_json::Value>) -> Result<Settings, SettingsError> {
    let mut settings = Settings::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let names: Vec<String> = fields.keys().filter(|k| find(k).is_some()).cloned().collect();
    for name in names {
        let Some(spec) = find(&name) else { continue };
        let Some(value) = fields.remove(&name) else { continue };
        if seen.contains(&spec.key) {
            return bad(format!("{} is given twice (as {})", spec.key, one_line(&name, 20)));
        }
        seen.push(spec.key);
        let value = spec.parse_json(value)?;
        spec.put(&mut settings, value);
    }
    Ok(settings)
}

impl Serialize for Settings {
    /// A JSON object of the settings that are set, by key, in the registry's order.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let set: Vec<(&str, Value)> = SETTINGS.iter().filter_map(|s| s.get(self).map(|v| (s.key, v))).collect();
        let mut map = serializer.serialize_map(Some(set.len()))?;
        for (key, value) in &set {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Settings {
    /// Reads what [`Serialize`] writes (names and aliases too); other fields are ignored.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        take_from(&mut fields).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_one_name_its_key_spelled_with_underscores() {
        for spec in SETTINGS {
            assert_eq!(spec.key.replace('_', "-"), spec.name, "one spelling per setting");
            assert!(std::ptr::eq(find(spec.key).unwrap(), spec) && std::ptr::eq(find(spec.name).unwrap(), spec));
            for alias in spec.aliases {
                assert!(std::ptr::eq(find(alias).unwrap(), spec), "{alias}");
            }
            assert!(!spec.help.is_empty() && !spec.example.is_empty(), "{} is described", spec.key);
            if spec.is_switch() {
                assert!(!spec.off_help.is_empty() && spec.flag, "{}", spec.key);
                assert_eq!(spec.off_name, format!("no-{}", spec.name));
            }
        }
        let mut names: Vec<&str> = SETTINGS.iter().flat_map(|s| s.aliases.iter().copied().chain([s.name])).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "no name means two settings");
    }

    #[test]
    fn every_setting_reads_its_example_as_typed_and_from_json_and_stores_it() {
        for spec in SETTINGS {
            let typed = spec.parse_text(spec.example).unwrap();
            let mut settings = Settings::default();
            spec.put(&mut settings, Some(typed.clone()));
            assert!(validate(&settings).is_ok(), "{}", spec.key);
            // Stored as JSON and read back: the same value.
            let stored = serde_json::to_value(&settings).unwrap();
            assert_eq!(stored.as_object().unwrap().keys().collect::<Vec<_>>(), [spec.key]);
            let back: Settings = serde_json::from_value(stored.clone()).unwrap();
            assert_eq!(spec.get(&back), Some(typed.clone()), "{}", spec.key);
            // And as a field of a line or a file.
            let mut fields = serde_json::Map::new();
            fields.insert(spec.key.to_owned(), stored[spec.key].clone());
            fields.insert("prompt".to_owned(), serde_json::json!("kept"));
            let taken = take_from(&mut fields).unwrap();
            assert_eq!(spec.get(&taken), Some(typed), "{}", spec.key);
            assert_eq!(fields.keys().collect::<Vec<_>>(), ["prompt"], "only settings are taken");
            // `/set` takes it and the summary shows it.
            let mut settings = Settings::default();
            set(&mut settings, spec.name, spec.example).unwrap();
            assert!(spec.get(&settings).is_some(), "{}", spec.key);
            assert!(summary(&settings).starts_with(spec.label), "{}: {}", spec.key, summary(&settings));
            assert_ne!(spec.show(&settings), spec.show(&Settings::default()), "{}", spec.key);
        }
    }

    #[test]
    fn old_spellings_are_aliases_everywhere() {
        let mut s = Settings::default();
        s.set("urlcontext", "on").unwrap();
        s.set("thoughts", "on").unwrap();
        s.set("top_p", "0.5").unwrap();
        s.set("MAX_TOKENS", "9").unwrap();
        assert_eq!(
            (s.url_context, s.show_thoughts, s.top_p, s.max_tokens),
            (Some(true), Some(true), Some(0.5), Some(9))
        );
        let read: Settings =
            serde_json::from_str(r#"{"top-p": 0.25, "urlcontext": true, "thoughts": false, "other": 1}"#).unwrap();
        assert_eq!((read.top_p, read.url_context, read.show_thoughts), (Some(0.25), Some(true), Some(false)));
        // Stored with one spelling, in the registry's order.
        assert_eq!(serde_json::to_string(&read).unwrap(), r#"{"show_thoughts":false,"top_p":0.25,"url_context":true}"#);
        let twice = serde_json::from_str::<Settings>(r#"{"top_p": 0.25, "top-p": 0.5}"#).unwrap_err().to_string();
        assert!(twice.contains("given twice"), "{twice}");
    }

    #[test]
    fn values_of_the_wrong_kind_are_refused_in_a_sentence() {
        let e = |json: &str| serde_json::from_str::<Settings>(json).unwrap_err().to_string();
        assert!(e(r#"{"temperature": "hot"}"#).contains("The temperature must be a number, not \"hot\""));
        assert!(e(r#"{"max_tokens": -1}"#).contains("whole number of tokens"));
        assert!(e(r#"{"search": "yes"}"#).contains("search must be true or false"));
        assert!(e(r#"{"stop": "END"}"#).contains("list of texts"));
        assert!(e(r#"{"thinking": "lots"}"#).contains("thinking must be off, low"));
        let budget: Settings = serde_json::from_str(r#"{"thinking": 2048}"#).unwrap();
        assert_eq!(budget.thinking, Some(Thinking::Budget(2048)));
    }

    #[test]
    fn settings_are_stored_as_they_always_were() {
        let s = Settings {
            thinking: Some(Thinking::High),
            show_thoughts: Some(true),
            temperature: Some(0.2),
            top_p: Some(0.9),
            max_tokens: Some(500),
            seed: Some(-7),
            stop: Some(vec!["END".into()]),
            json_schema: Some(serde_json::json!({"type": "object"})),
            search: Some(true),
            url_context: Some(false),
        };
        let stored = s.to_stored().unwrap();
        assert_eq!(
            stored,
            r#"{"thinking":"high","show_thoughts":true,"temperature":0.2,"top_p":0.9,"max_tokens":500,"seed":-7,"stop":["END"],"json_schema":{"type":"object"},"search":true,"url_context":false}"#
        );
        assert_eq!(Settings::from_stored(Some(&stored)), Some(s));
        assert_eq!(Settings::default().to_stored(), None);
    }

    #[test]
    fn a_misspelt_key_is_told_the_closest_name() {
        let said = |m: &str| with_setting_keys(m.to_owned(), |_| true);
        assert_eq!(
            said("unknown field `temprature`, expected one of `api_key`, `model`"),
            "unknown field `temprature`: did you mean `temperature`?"
        );
        assert_eq!(
            said("unknown field `modle`, expected one of `api_key`, `model`"),
            "unknown field `modle`: did you mean `model`?"
        );
        let far = said("unknown field `colour`, expected one of `api_key`, `model`");
        assert!(far.starts_with("unknown field `colour`, expected one of `api_key`, `model`, `thinking`"), "{far}");
        assert!(far.ends_with("`url_context`"), "{far}");
        assert_eq!(said("invalid type: string"), "invalid type: string");
        let nested = "unknown field `seeds`, expected `daily` or `monthly`";
        assert_eq!(with_setting_keys(nested.to_owned(), |_| false), nested, "a nested table's field");
    }

    #[test]
    fn set_lists_the_registry_names() {
        let e = Settings::default().set("colour", "red").unwrap_err().0;
        for spec in SETTINGS {
            assert!(e.contains(spec.name), "{e}");
        }
        assert!(e.ends_with("search or url-context."), "{e}");
    }
}
