//! Tool names as the model calls them: valid for Gemini and OpenAI (letters, digits, `_ . : -`,
//! first a letter or `_`, at most 64 characters) and unique across the servers offered (a name
//! two servers share is prefixed with each server's name).

use std::collections::{HashMap, HashSet};

pub const MAX_NAME_CHARS: usize = 64;

/// `raw` made valid: other characters become `_`, a leading `_` is added when it starts with
/// neither a letter nor `_`, and it is cut to 64 characters.
pub fn valid(raw: &str) -> String {
    let mut name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || "_.:-".contains(c) { c } else { '_' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name.truncate(MAX_NAME_CHARS);
    name
}

/// The names the model is offered for these `(server, tool)` pairs, in the same order.
pub fn assign(tools: &[(&str, &str)]) -> Vec<String> {
    let plain: Vec<String> = tools.iter().map(|(_, tool)| valid(tool)).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for name in &plain {
        *count.entry(name.as_str()).or_default() += 1;
    }
    let mut wanted: Vec<String> = tools
        .iter()
        .zip(&plain)
        .map(
            |((server, tool), name)| {
                if count[name.as_str()] > 1 { valid(&format!("{server}_{tool}")) } else { name.clone() }
            },
        )
        .collect();
    // Cut or odd names can still meet: the later ones get a number.
    let mut taken: HashSet<String> = HashSet::new();
    for name in &mut wanted {
        if !taken.insert(name.clone()) {
            let base = name.clone();
            let mut n = 2;
            loop {
                let suffix = format!("_{n}");
                let mut candidate = base.clone();
                candidate.truncate(MAX_NAME_CHARS - suffix.len());
                candidate.push_str(&suffix);
                if taken.insert(candidate.clone()) {
                    *name = candidate;
                    break;
                }
                n += 1;
            }
        }
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> bool {
        name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(valid("read_file"), "read_file");
        assert_eq!(valid("get weather/now"), "get_weather_now");
        assert_eq!(valid("1st"), "_1st");
        assert_eq!(valid("ünï"), "_n_");
        assert_eq!(valid(""), "_");
        let long = valid(&"x".repeat(100));
        assert_eq!(long.len(), 64);
        for raw in ["-a", ".b", "é", "a\u{1b}[31m", &"é".repeat(70)] {
            assert!(ok(&valid(raw)), "{raw:?} -> {}", valid(raw));
        }
    }

    #[test]
    fn a_clash_is_prefixed_with_the_server_and_stays_valid() {
        let names = assign(&[("fs", "read"), ("web", "read"), ("fs", "write")]);
        assert_eq!(names, ["fs_read", "web_read", "write"]);
        let long = "t".repeat(64);
        let names = assign(&[("a", &long), ("b", &long)]);
        assert!(names.iter().all(|n| ok(n)), "{names:?}");
        assert_ne!(names[0], names[1]);
        // The prefixed form meets another tool's own name.
        let names = assign(&[("a", "x"), ("b", "x"), ("c", "a_x")]);
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 3, "{names:?}");
    }
}
