//! The text generator shared by the history benchmarks: a deterministic PRNG and English-like
//! sentences drawn from function words and technical and everyday vocabulary.

/// A small deterministic PRNG (SplitMix64): the same database every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability 1 / `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

/// Short, very frequent words (about 40% of all words drawn).
#[rustfmt::skip]
pub const FUNCTION_WORDS: &[&str] = &[
    "the", "a", "an", "of", "to", "and", "in", "is", "it", "that", "for", "on", "with", "as",
    "this", "be", "are", "you", "can", "by", "or", "from", "at", "if", "not", "but", "so", "we",
    "your", "will", "then", "when", "which", "there", "also", "more", "into", "each",
];

/// Content words: technical and everyday vocabulary, drawn uniformly (each appears in a few
/// percent of messages).
#[rustfmt::skip]
pub const CONTENT_WORDS: &[&str] = &[
    "function", "value", "error", "data", "file", "server", "client", "request", "response",
    "query", "index", "table", "column", "row", "string", "number", "list", "array", "vector",
    "map", "key", "type", "trait", "struct", "module", "crate", "package", "library", "version",
    "update", "change", "build", "test", "run", "compile", "debug", "release", "deploy", "config",
    "option", "setting", "default", "user", "account", "password", "token", "session", "cache",
    "memory", "disk", "thread", "process", "task", "async", "await", "future", "stream", "buffer",
    "read", "write", "open", "close", "send", "receive", "parse", "format", "print", "log",
    "output", "input", "result", "return", "call", "method", "object", "class", "instance",
    "pointer", "reference", "lifetime", "scope", "variable", "constant", "loop", "branch",
    "condition", "match", "pattern", "case", "example", "question", "answer", "problem",
    "solution", "idea", "reason", "way", "time", "day", "week", "year", "morning", "evening",
    "travel", "city", "train", "flight", "hotel", "museum", "garden", "river", "mountain",
    "weather", "rain", "summer", "winter", "recipe", "bread", "cheese", "coffee", "tea", "soup",
    "salad", "kitchen", "oven", "minutes", "temperature", "book", "chapter", "story", "author",
    "character", "history", "science", "physics", "energy", "light", "planet", "star", "ocean",
    "animal", "bird", "forest", "music", "guitar", "piano", "song", "movie", "game", "team",
    "player", "score", "health", "sleep", "exercise", "running", "walking", "budget", "price",
    "market", "company", "project", "deadline", "meeting", "email", "letter", "draft", "summary",
    "translate", "language", "grammar", "sentence", "word", "meaning", "explain", "describe",
    "compare", "difference", "similar", "better", "faster", "slower", "simple", "complex",
    "important", "careful", "quickly", "usually", "often", "sometimes", "probably", "exactly",
    "first", "second", "next", "last", "small", "large", "new", "old", "good", "different",
    "possible", "available", "correct", "wrong", "clear", "useful", "common", "specific",
    "general", "local", "remote", "network", "socket", "port", "address", "protocol", "header",
    "body", "status", "timeout", "retry", "limit", "page", "offset", "sort", "filter", "search",
    "result", "performance", "benchmark", "profile", "measure", "latency", "throughput",
    "terminal", "window", "screen", "color", "font", "keyboard", "shortcut", "command", "shell",
    "script", "path", "directory", "folder", "backup", "restore", "schema", "transaction",
    "commit", "rollback", "lock", "borrow", "checker", "compiler", "macro", "generic", "closure",
    "iterator", "collect", "filter", "fold", "sum", "average", "count", "maximum", "minimum",
];

/// `words` words in sentences of 6–18 words (capitalised, with some commas and questions),
/// each drawn by `word`.
pub fn sentences(rng: &mut Rng, words: usize, mut word: impl FnMut(&mut Rng) -> &'static str) -> String {
    let mut text = String::with_capacity(words * 7);
    let mut sentence_left = 0;
    for _ in 0..words {
        let word = word(rng);
        if sentence_left == 0 {
            if !text.is_empty() {
                text.push(' ');
            }
            sentence_left = rng.between(6, 18);
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
        sentence_left -= 1;
        if sentence_left == 0 {
            text.push(if rng.one_in(8) { '?' } else { '.' });
        } else if rng.one_in(15) {
            text.push(',');
        }
    }
    if sentence_left != 0 {
        text.push('.');
    }
    text
}
