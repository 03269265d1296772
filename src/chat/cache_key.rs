//! The answer cache's key and its in-memory layer. The key hashes everything that decides an
//! answer: model, system prompt, generation config, the whole history before the turn, and the
//! prompt, and the endpoint asked (see `Config::cache_namespace`), so the demo's answers never
//! answer for Google, nor one server's for another's. Change any of them and it is a different
//! question.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Role, Turn};
use crate::store::CachedAnswer;

pub type CacheKey = [u8; 32];

#[derive(Serialize)]
struct KeyMaterial<'a> {
    v: u32,
    endpoint: &'a str,
    model: &'a str,
    system: Option<&'a str>,
    generation_config: Option<&'a crate::gemini::GenerationConfig>,
    history: Vec<(&'a str, &'a str)>,
    prompt: &'a str,
    /// The attachments of the prompt and of each earlier message (by index), by name, type and
    /// content hash. Absent when there are none, so keys of text-only turns are unchanged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<(usize, &'a str, &'a str, &'a str)>,
    /// Left out when empty, so keys made before tools existed still match.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [crate::gemini::Tool],
}

/// The key of `turn` asked of `endpoint`: everything that decides the answer.
pub fn cache_key(endpoint: &str, turn: &Turn) -> CacheKey {
    // Asking to see thought summaries does not change the answer: it is not part of the key.
    let answer_config = turn.generation_config.clone().map(|mut c| {
        if let Some(thinking) = &mut c.thinking_config {
            thinking.include_thoughts = None;
            if *thinking == crate::gemini::ThinkingConfig::default() {
                c.thinking_config = None;
            }
        }
        c
    });
    let answer_config = answer_config.filter(|c| !c.is_empty());
    let material = KeyMaterial {
        // v3: the endpoint is part of the key, so no older entry is ever met again.
        v: 3,
        endpoint,
        // `models/x` and `x` name the same model.
        model: turn.model.trim_start_matches("models/"),
        system: turn.system.as_deref(),
        generation_config: answer_config.as_ref(),
        history: turn
            .history
            .iter()
            .map(|m| (if m.role == Role::User { "user" } else { "model" }, m.text.as_str()))
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
        tools: &turn.tools,
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
        t.history = vec![Message::new(Role::User, "hi"), Message::new(Role::Model, "hello")];
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
        t.generation_config = Some(crate::gemini::GenerationConfig { temperature: Some(0.2), ..Default::default() });
        assert_ne!(cache_key("demo", &t), base);
        let mut cooler = turn();
        cooler.generation_config =
            Some(crate::gemini::GenerationConfig { temperature: Some(0.3), ..Default::default() });
        assert_ne!(cache_key("demo", &cooler), cache_key("demo", &t), "another temperature is another question");
        // Seeing the thoughts does not change the answer, so it is the same question.
        let mut thoughts = turn();
        thoughts.generation_config = Some(crate::gemini::GenerationConfig {
            thinking_config: Some(crate::gemini::ThinkingConfig { include_thoughts: Some(true), ..Default::default() }),
            ..Default::default()
        });
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
        // Role matters too: the same texts said by the other side are another conversation.
        let mut t = turn();
        t.history[0].role = Role::Model;
        assert_ne!(cache_key("demo", &t), base);
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
