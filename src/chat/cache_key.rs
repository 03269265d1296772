//! The answer cache's key and its in-memory layer. The key hashes everything that decides an
//! answer: model, system prompt, generation config, the whole history before the turn, and the
//! prompt, and the endpoint asked (see `Config::cache_namespace`), so the demo's answers never
//! answer for Google, nor one server's for another's. Change any of them and it is a different
//! question. The parameters and tools are written as they were when the request was Gemini's
//! JSON (camelCase `generationConfig`, `{"googleSearch":{}}`), so keys made before the neutral
//! vocabulary still match; a thinking choice is written as the choice itself (`"high"`), which
//! no older key held, so such turns are asked once more rather than matched wrongly.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Author, Turn};
use crate::store::CachedAnswer;

pub type CacheKey = [u8; 32];

#[derive(Serialize)]
struct KeyMaterial<'a> {
    v: u32,
    endpoint: &'a str,
    model: &'a str,
    system: Option<&'a str>,
    generation_config: Option<ConfigKey<'a>>,
    history: Vec<(&'a str, &'a str)>,
    prompt: &'a str,
    /// The attachments of the prompt and of each earlier message (by index), by name, type and
    /// content hash. Absent when there are none, so keys of text-only turns are unchanged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<(usize, &'a str, &'a str, &'a str)>,
    /// Left out when empty, so keys made before tools existed still match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<serde_json::Value>,
}

/// The parameters that decide an answer, as `generationConfig` wrote them (field names and
/// order), thought summaries left out (seeing them does not change the answer).
#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ConfigKey<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a serde_json::Value>,
}

#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ThinkingKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<crate::llm::Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_thoughts: Option<bool>,
}

/// `params` as `generationConfig` was written (thought summaries included), for estimating
/// the request's size; `None` when nothing is set.
pub(super) fn settings_json(params: &crate::llm::Params) -> Option<String> {
    let mut key = ConfigKey::of(params);
    if params.thoughts {
        let key = key.get_or_insert_with(|| ConfigKey::empty(params));
        key.thinking_config.get_or_insert(ThinkingKey { thinking: None, include_thoughts: None }).include_thoughts =
            Some(true);
    }
    key.and_then(|k| serde_json::to_string(&k).ok())
}

impl<'a> ConfigKey<'a> {
    /// Nothing set.
    fn empty(_: &'a crate::llm::Params) -> Self {
        ConfigKey {
            temperature: None,
            top_p: None,
            top_k: None,
            max_output_tokens: None,
            thinking_config: None,
            seed: None,
            stop_sequences: None,
            response_mime_type: None,
            response_json_schema: None,
        }
    }

    /// `None` when nothing that decides the answer is set.
    fn of(params: &'a crate::llm::Params) -> Option<Self> {
        let key = ConfigKey {
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k,
            max_output_tokens: params.max_tokens,
            thinking_config: params
                .thinking
                .map(|thinking| ThinkingKey { thinking: Some(thinking), include_thoughts: None }),
            seed: params.seed,
            stop_sequences: (!params.stop.is_empty()).then_some(params.stop.as_slice()),
            response_mime_type: params.answer_schema.as_ref().map(|_| "application/json"),
            response_json_schema: params.answer_schema.as_ref(),
        };
        let empty = key.temperature.is_none()
            && key.top_p.is_none()
            && key.top_k.is_none()
            && key.max_output_tokens.is_none()
            && key.thinking_config.is_none()
            && key.seed.is_none()
            && key.stop_sequences.is_none()
            && key.response_json_schema.is_none();
        (!empty).then_some(key)
    }
}

/// A tool as the key writes it (built-ins as Gemini's JSON named them).
fn tool_key(tool: &crate::llm::ToolSpec) -> serde_json::Value {
    use crate::llm::ToolSpec;
    match tool {
        ToolSpec::GoogleSearch => serde_json::json!({"googleSearch": {}}),
        ToolSpec::UrlContext => serde_json::json!({"urlContext": {}}),
        ToolSpec::Function { name, description, parameters } => {
            serde_json::json!({"function": {"name": name, "description": description, "parameters": parameters}})
        }
    }
}

/// The key of `turn` asked of `endpoint`: everything that decides the answer.
pub fn cache_key(endpoint: &str, turn: &Turn) -> CacheKey {
    let material = KeyMaterial {
        // v3: the endpoint is part of the key, so no older entry is ever met again.
        v: 3,
        endpoint,
        // `models/x` and `x` name the same model.
        model: turn.model.trim_start_matches("models/"),
        system: turn.system.as_deref(),
        generation_config: ConfigKey::of(&turn.params),
        history: turn
            .history
            .iter()
            .map(|m| (if m.role == Author::User { "user" } else { "model" }, m.text.as_str()))
            .collect(),
        prompt: &turn.prompt,
        attachments: turn
            .history
            .iter()
            .map(|m| &m.attachments)
            .chain(std::iter::once(&turn.attachments))
            .enumerate()
            .flat_map(|(at, list)| {
                list.iter().map(move |a| (at, a.info.name.as_str(), a.info.mime.as_str(), a.info.sha256.as_str()))
            })
            .collect(),
        tools: turn.tools.iter().map(tool_key).collect(),
    };
    let bytes = serde_json::to_vec(&material).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// A small least-recently-used map in front of the persistent cache. Entries older than the
/// time to live are never returned (`None` keeps them forever).
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    ttl: Option<Duration>,
    clock: u64,
    entries: HashMap<CacheKey, (CachedAnswer, u64)>,
}

impl MemoryCache {
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        MemoryCache { capacity: capacity.max(1), ttl, clock: 0, entries: HashMap::new() }
    }

    /// The answer for `key` if it is still fresh at `now_ms`; an expired one is dropped.
    pub fn get(&mut self, key: &CacheKey, now_ms: i64) -> Option<CachedAnswer> {
        self.clock += 1;
        let clock = self.clock;
        let (answer, used) = self.entries.get_mut(key)?;
        if answer.is_expired(self.ttl, now_ms) {
            self.entries.remove(key);
            return None;
        }
        *used = clock;
        Some(answer.clone())
    }

    pub fn put(&mut self, key: CacheKey, answer: CachedAnswer) {
        self.clock += 1;
        let full = !self.entries.contains_key(&key) && self.entries.len() >= self.capacity;
        if full && let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k) {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (answer, self.clock));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    fn turn() -> Turn {
        let mut t = Turn::new("gemini-2.5-flash", "and then?");
        t.system = Some("be brief".into());
        t.history = vec![Message::new(Author::User, "hi"), Message::new(Author::Model, "hello")];
        t
    }

    #[test]
    fn the_same_question_has_the_same_key() {
        assert_eq!(cache_key("demo", &turn()), cache_key("demo", &turn()));
        let mut prefixed = turn();
        prefixed.model = "models/gemini-2.5-flash".into();
        assert_eq!(cache_key("demo", &prefixed), cache_key("demo", &turn()));
    }

    #[test]
    fn any_change_that_decides_the_answer_changes_the_key() {
        let base = cache_key("demo", &turn());
        let mut t = turn();
        t.model = "gemini-2.5-pro".into();
        assert_ne!(cache_key("demo", &t), base);
        let mut t = turn();
        t.system = None;
        assert_ne!(cache_key("demo", &t), base);
        let mut t = turn();
        t.history[1].text = "hello!".into();
        assert_ne!(cache_key("demo", &t), base);
        let mut t = turn();
        t.history.clear();
        assert_ne!(cache_key("demo", &t), base);
        let mut t = turn();
        t.prompt = "and then? ".into();
        assert_ne!(cache_key("demo", &t), base);
        let mut t = turn();
        t.params.temperature = Some(0.2);
        assert_ne!(cache_key("demo", &t), base);
        let mut cooler = turn();
        cooler.params.temperature = Some(0.3);
        assert_ne!(cache_key("demo", &cooler), cache_key("demo", &t), "another temperature is another question");
        let mut thinking = turn();
        thinking.params.thinking = Some(crate::llm::Thinking::High);
        assert_ne!(cache_key("demo", &thinking), base);
        // Seeing the thoughts does not change the answer, so it is the same question.
        let mut thoughts = turn();
        thoughts.params.thoughts = true;
        assert_eq!(cache_key("demo", &thoughts), base);
        // Another attachment (here: the same name, other content) is another question.
        let attached = |sha: &str| crate::attach::Attachment {
            info: crate::domain::AttachmentInfo {
                name: "photo.png".into(),
                mime: "image/png".into(),
                size: 3,
                sha256: sha.into(),
            },
            data: crate::attach::AttachmentData::Missing,
            path: None,
            remote: None,
        };
        let mut t = turn();
        t.attachments = vec![attached("aa")];
        let with_one = cache_key("demo", &t);
        assert_ne!(with_one, base);
        t.attachments = vec![attached("bb")];
        assert_ne!(cache_key("demo", &t), with_one);
        let mut t = turn();
        t.history[0].attachments = vec![attached("aa")];
        assert_ne!(cache_key("demo", &t), with_one, "the same file on an earlier message is another conversation");
        // Author matters too: the same texts said by the other side are another conversation.
        let mut t = turn();
        t.history[0].role = Author::Model;
        assert_ne!(cache_key("demo", &t), base);
    }

    /// Keys computed before the neutral vocabulary (the request was Gemini's JSON then): the
    /// same questions must find the answers cached under them.
    #[test]
    fn keys_made_before_the_neutral_request_still_match() {
        let hex = |key: CacheKey| key.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(cache_key("demo", &turn())), "a348def32d3c9c15c0535b808108c7fc8c12f4857560d7eaf74fc2ad8ca0b28a");
        let mut t = turn();
        t.params = crate::llm::Params {
            temperature: Some(0.5),
            max_tokens: Some(64),
            seed: Some(7),
            stop: vec!["END".into()],
            thoughts: true,
            ..Default::default()
        };
        t.tools = vec![crate::llm::ToolSpec::GoogleSearch];
        t.attachments = vec![crate::attach::Attachment {
            info: crate::domain::AttachmentInfo {
                name: "photo.png".into(),
                mime: "image/png".into(),
                size: 3,
                sha256: "aa".into(),
            },
            data: crate::attach::AttachmentData::Missing,
            path: None,
            remote: None,
        }];
        assert_eq!(hex(cache_key("demo", &t)), "3d3f02981e6a20e15718cdbeee46b3ef9395c3637adbedb372fdee56ce24e51a");
    }

    #[test]
    fn the_same_question_at_two_endpoints_has_two_keys() {
        let demo = cache_key("demo", &turn());
        let google = cache_key("https://generativelanguage.googleapis.com", &turn());
        assert_ne!(demo, google);
        assert_eq!(demo, cache_key("demo", &turn()));
        assert_ne!(cache_key("", &turn()), demo);
    }

    fn answer(text: &str, created_at: i64) -> CachedAnswer {
        CachedAnswer {
            model: "m".into(),
            text: text.into(),
            prompt_tokens: None,
            output_tokens: None,
            cost: None,
            created_at,
        }
    }

    #[test]
    fn the_memory_layer_evicts_the_least_recently_used() {
        let mut c = MemoryCache::new(2, None);
        c.put([1; 32], answer("one", 0));
        c.put([2; 32], answer("two", 0));
        assert!(c.get(&[1; 32], 0).is_some());
        c.put([3; 32], answer("three", 0));
        assert_eq!(c.len(), 2);
        assert!(c.get(&[2; 32], 0).is_none(), "two was least recently used");
        assert_eq!(c.get(&[1; 32], 0).unwrap().text, "one");
    }

    #[test]
    fn the_memory_layer_never_returns_an_expired_answer() {
        let mut c = MemoryCache::new(8, Some(Duration::from_secs(60)));
        c.put([1; 32], answer("one", 1_000));
        assert!(c.get(&[1; 32], 1_000 + 60_000).is_some(), "exactly the time to live is still fresh");
        assert!(c.get(&[1; 32], 1_000 + 60_001).is_none());
        assert!(c.is_empty(), "the expired answer was dropped when met");
        let mut forever = MemoryCache::new(8, None);
        forever.put([1; 32], answer("one", 0));
        assert!(forever.get(&[1; 32], i64::MAX / 2).is_some());
    }
}
