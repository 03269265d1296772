//! The answer cache's key and its in-memory layer. The key hashes everything that decides an
//! answer: model, system prompt, generation config, the whole history before the turn, and the
//! prompt. Change any of them and it is a different question.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Role, Turn};
use crate::store::CachedAnswer;

pub type CacheKey = [u8; 32];

#[derive(Serialize)]
struct KeyMaterial<'a> {
    v: u32,
    model: &'a str,
    system: Option<&'a str>,
    generation_config: Option<&'a crate::gemini::GenerationConfig>,
    history: Vec<(&'a str, &'a str)>,
    prompt: &'a str,
}

pub fn cache_key(turn: &Turn) -> CacheKey {
    let material = KeyMaterial {
        v: 1,
        // `models/x` and `x` name the same model.
        model: turn.model.trim_start_matches("models/"),
        system: turn.system.as_deref(),
        generation_config: turn.generation_config.as_ref(),
        history: turn
            .history
            .iter()
            .map(|m| (if m.role == Role::User { "user" } else { "model" }, m.text.as_str()))
            .collect(),
        prompt: &turn.prompt,
    };
    let bytes = serde_json::to_vec(&material).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// A small least-recently-used map in front of the persistent cache.
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    clock: u64,
    entries: HashMap<CacheKey, (CachedAnswer, u64)>,
}

impl MemoryCache {
    pub fn new(capacity: usize) -> Self {
        MemoryCache { capacity: capacity.max(1), clock: 0, entries: HashMap::new() }
    }

    pub fn get(&mut self, key: &CacheKey) -> Option<CachedAnswer> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(answer, used)| {
            *used = clock;
            answer.clone()
        })
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
        t.history =
            vec![Message { role: Role::User, text: "hi".into() }, Message { role: Role::Model, text: "hello".into() }];
        t
    }

    #[test]
    fn the_same_question_has_the_same_key() {
        assert_eq!(cache_key(&turn()), cache_key(&turn()));
        let mut prefixed = turn();
        prefixed.model = "models/gemini-2.5-flash".into();
        assert_eq!(cache_key(&prefixed), cache_key(&turn()));
    }

    #[test]
    fn any_change_that_decides_the_answer_changes_the_key() {
        let base = cache_key(&turn());
        let mut t = turn();
        t.model = "gemini-2.5-pro".into();
        assert_ne!(cache_key(&t), base);
        let mut t = turn();
        t.system = None;
        assert_ne!(cache_key(&t), base);
        let mut t = turn();
        t.history[1].text = "hello!".into();
        assert_ne!(cache_key(&t), base);
        let mut t = turn();
        t.history.clear();
        assert_ne!(cache_key(&t), base);
        let mut t = turn();
        t.prompt = "and then? ".into();
        assert_ne!(cache_key(&t), base);
        let mut t = turn();
        t.generation_config = Some(crate::gemini::GenerationConfig { temperature: Some(0.2), ..Default::default() });
        assert_ne!(cache_key(&t), base);
        // Role matters too: the same texts said by the other side are another conversation.
        let mut t = turn();
        t.history[0].role = Role::Model;
        assert_ne!(cache_key(&t), base);
    }

    #[test]
    fn the_memory_layer_evicts_the_least_recently_used() {
        let answer =
            |t: &str| CachedAnswer { model: "m".into(), text: t.into(), prompt_tokens: None, output_tokens: None };
        let mut c = MemoryCache::new(2);
        c.put([1; 32], answer("one"));
        c.put([2; 32], answer("two"));
        assert!(c.get(&[1; 32]).is_some());
        c.put([3; 32], answer("three"));
        assert_eq!(c.len(), 2);
        assert!(c.get(&[2; 32]).is_none(), "two was least recently used");
        assert_eq!(c.get(&[1; 32]).unwrap().text, "one");
    }
}
