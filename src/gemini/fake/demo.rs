//! The demo corpus: readable markdown answers (assets/demo/answers.md), chosen by keyword.

use std::sync::OnceLock;

const CORPUS: &str = include_str!("../../../assets/demo/answers.md");

struct Entry {
    keywords: Vec<&'static str>,
    body: &'static str,
}

fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut entries = Vec::new();
        for block in CORPUS.split("=== keywords:").filter(|b| !b.trim().is_empty()) {
            let (header, body) = block.split_once('\n').unwrap_or((block, ""));
            let keywords = header.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
            entries.push(Entry { keywords, body: body.trim() });
        }
        entries
    })
}

/// The answer for `prompt`: the entry whose keywords match most words, else one picked by hash.
pub fn demo_answer(prompt: &str) -> &'static str {
    let lower = prompt.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let entries = entries();
    let best = entries
        .iter()
        .map(|e| (e.keywords.iter().filter(|k| words.contains(k)).count(), e))
        .filter(|(score, _)| *score > 0)
        .max_by_key(|(score, _)| *score);
    match best {
        Some((_, entry)) => entry.body,
        None => entries[(super::hash(prompt) % entries.len() as u64) as usize].body,
    }
}

/// The demo's answer to a prompt sent with media (`(type, size)` of each): what it was given,
/// and what the real Gemini does with such files.
pub fn attachment_answer(media: &[(String, u64)], prompt: &str) -> String {
    let what = |mime: &str| match mime.split('/').next().unwrap_or("") {
        "image" => "an image",
        "audio" => "a recording",
        "video" => "a video",
        _ if mime == "application/pdf" => "a PDF document",
        _ => "a file",
    };
    let first = media.first().map_or("a file", |(mime, _)| what(mime));
    let mut out = format!(
        "## What you sent\n\nI was given **{}** with your question, “{}”.\n\n| # | type | size |\n|---|---|---|\n",
        if media.len() == 1 { first.to_owned() } else { format!("{} attachments", media.len()) },
        crate::sanitize::one_line(prompt, 80)
    );
    for (i, (mime, size)) in media.iter().enumerate() {
        out.push_str(&format!("| {} | {mime} | {} |\n", i + 1, crate::format::bytes(*size)));
    }
    out.push_str(
        "\nThis is the simulated Gemini, so it cannot look inside them. The real one would describe \
         what the picture shows, read any text in it (signs, labels, handwriting), transcribe speech \
         in a recording, summarize a document page by page, and answer your question from all of it.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_parses_into_varied_markdown_answers() {
        let entries = entries();
        assert!(entries.len() >= 10);
        assert!(entries.iter().all(|e| e.keywords.len() >= 3 && e.body.len() > 300));
        assert!(entries.iter().any(|e| e.body.contains("```rust")));
        assert!(entries.iter().any(|e| e.body.contains("| ")));
    }

    #[test]
    fn answers_follow_the_prompt() {
        assert!(demo_answer("Why do birds migrate?").contains("migrat"));
        assert!(demo_answer("explain rust borrowing").contains("```rust"));
        assert_eq!(demo_answer("zzz qqq"), demo_answer("zzz qqq"));
    }

    #[test]
    fn a_prompt_with_a_picture_is_answered_about_the_picture() {
        let answer = attachment_answer(&[("image/png".into(), 70)], "what is this?");
        assert!(answer.contains("**an image**") && answer.contains("| 1 | image/png | 70 B |"), "{answer}");
        let two = attachment_answer(&[("image/png".into(), 70), ("video/mp4".into(), 2048)], "compare");
        assert!(two.contains("**2 attachments**") && two.contains("| 2 | video/mp4 | 2.0 KiB |"), "{two}");
    }
}
