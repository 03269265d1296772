//! The fake's tools: it checks the request's `tools` as Gemini does (an unknown shape is the
//! API's 400) and, for Google Search and URL context, makes the `groundingMetadata` and
//! `urlContextMetadata` a real answer carries: sources, and supports whose UTF-8 byte offsets
//! point at real sentences of the answer text (multi-byte text included).

use serde_json::{Value, json};

/// The built-in tools a request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToolsAsked {
    pub search: bool,
    pub url_context: bool,
}

impl ToolsAsked {
    pub fn any(self) -> bool {
        self.search || self.url_context
    }
}

const KNOWN_TOOLS: &[&str] = &[
    "googleSearch",
    "google_search",
    "urlContext",
    "url_context",
    "codeExecution",
    "code_execution",
    "functionDeclarations",
    "function_declarations",
    "googleSearchRetrieval",
    "google_search_retrieval",
];

/// The tools of a request body, or the message of the 400 Gemini answers for a shape it does
/// not know (its wording: "Invalid JSON payload received. Unknown name …").
pub fn tools_asked(body: &str) -> Result<ToolsAsked, String> {
    let Ok(value) = serde_json::from_str::<Value>(body) else { return Ok(ToolsAsked::default()) };
    let mut asked = ToolsAsked::default();
    let tools = match value.get("tools") {
        None | Some(Value::Null) => return Ok(asked),
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            return Err("Invalid JSON payload received. Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), expected a list.".to_owned());
        }
    };
    for (i, tool) in tools.iter().enumerate() {
        let Some(fields) = tool.as_object() else {
            return Err(format!(
                "Invalid JSON payload received. Invalid value at 'tools[{i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool), expected an object."
            ));
        };
        for (name, inner) in fields {
            if !KNOWN_TOOLS.contains(&name.as_str()) {
                return Err(format!(
                    "Invalid JSON payload received. Unknown name \"{name}\" at 'tools[{i}]': Cannot find field."
                ));
            }
            if !(inner.is_object() || name.starts_with("function")) {
                return Err(format!(
                    "Invalid JSON payload received. Invalid value at 'tools[{i}].{name}', expected an object."
                ));
            }
            match name.as_str() {
                "googleSearch" | "google_search" => asked.search = true,
                "urlContext" | "url_context" => asked.url_context = true,
                _ => {}
            }
        }
    }
    Ok(asked)
}

/// Byte ranges of the answer's prose sentences (outside code blocks, tables and headings), at
/// most `max`, each ending after its full stop.
fn sentences(text: &str, max: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || trimmed.starts_with('|') || trimmed.starts_with('#') || line.starts_with("    ") {
            continue;
        }
        // Skip a list marker: the passage is the item's text.
        let body_at = line_start + (line.len() - trimmed.len());
        let marker_len = ["- ", "* ", "+ "].iter().find(|m| trimmed.starts_with(**m)).map_or(0, |m| m.len());
        let base = body_at + marker_len;
        let mut start = base;
        let mut chars = text[base..offset].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = base + i;
            let ends = matches!(c, '.' | '!' | '?' | '。' | '！' | '？');
            let next_is_space = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
            if ends && (next_is_space || c == '。') {
                let end = at + c.len_utf8();
                let passage = &text[start..end];
                if passage.trim().chars().count() > 3 {
                    let lead = passage.len() - passage.trim_start().len();
                    out.push((start + lead, end));
                    if out.len() == max {
                        return out;
                    }
                }
                start = end;
            }
        }
    }
    if out.is_empty() {
        let trimmed = text.trim_end();
        let lead = trimmed.len() - trimmed.trim_start().len();
        if trimmed.len() > lead {
            out.push((lead, trimmed.len()));
        }
    }
    out
}

/// Titles of the simulated search results (Google gives a site's domain as its title).
const SEARCH_SOURCES: &[&str] =
    &["en.wikipedia.org", "britannica.com", "nature.com", "nationalgeographic.com", "sciencedaily.com", "bbc.co.uk"];

/// URLs written in the prompt (what URL context reads).
fn urls_in(prompt: &str) -> Vec<String> {
    prompt
        .split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ';', ')', '"', '\'']).to_owned())
        .collect()
}

/// The metadata an answer `text` to `prompt` carries when `asked` tools were on: the
/// candidate's `groundingMetadata` and `urlContextMetadata` (each `None` when not sent). A URL
/// on a `.invalid` host cannot be read.
pub fn metadata(text: &str, prompt: &str, asked: ToolsAsked, seed: u64) -> (Option<Value>, Option<Value>) {
    let mut chunks: Vec<Value> = Vec::new();
    let mut queries = Vec::new();
    if asked.search {
        for k in 0..3 {
            let title = SEARCH_SOURCES[(seed as usize + k) % SEARCH_SOURCES.len()];
            let token = format!("{:016x}", super::hash(&format!("{prompt}{k}")));
            chunks.push(json!({ "web": {
                "uri": format!("https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake-{token}"),
                "title": title,
            }}));
        }
        queries.push(crate::sanitize::one_line(prompt, 60));
    }
    let mut url_metadata = Vec::new();
    if asked.url_context {
        for url in urls_in(prompt) {
            let host = url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("").to_owned();
            let readable = !host.ends_with(".invalid");
            let status = if readable { "URL_RETRIEVAL_STATUS_SUCCESS" } else { "URL_RETRIEVAL_STATUS_ERROR" };
            url_metadata.push(json!({ "retrievedUrl": url, "urlRetrievalStatus": status }));
            if readable {
                chunks.push(json!({ "web": { "uri": url, "title": host } }));
            }
        }
    }
    let url_context = (!url_metadata.is_empty()).then(|| json!({ "urlMetadata": url_metadata }));
    if chunks.is_empty() {
        return (None, url_context);
    }
    let n = chunks.len();
    let passages = sentences(text, 4);
    let last = passages.len().saturating_sub(1);
    let supports: Vec<Value> = passages
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            // The last passage is supported by two sources, as real answers often are.
            let indices = if i == last && n > 1 { vec![i % n, (i + 1) % n] } else { vec![i % n] };
            let mut segment = json!({ "endIndex": end, "text": &text[start..end] });
            // proto3 JSON leaves out a zero start, as Google's does.
            if start > 0 {
                segment["startIndex"] = json!(start);
            }
            json!({ "segment": segment, "groundingChunkIndices": indices })
        })
        .collect();
    let mut grounding = json!({ "groundingChunks": chunks, "groundingSupports": supports });
    if !queries.is_empty() {
        grounding["webSearchQueries"] = json!(queries);
        grounding["searchEntryPoint"] =
            json!({ "renderedContent": "<style>.chip { color: #1a73e8; }</style><div class=\"chip\">search</div>" });
    }
    (Some(grounding), url_context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_tool_shape_is_refused_as_gemini_does() {
        assert_eq!(tools_asked(r#"{"contents":[]}"#), Ok(ToolsAsked::default()));
        assert_eq!(
            tools_asked(r#"{"tools":[{"googleSearch":{}},{"urlContext":{}}]}"#),
            Ok(ToolsAsked { search: true, url_context: true })
        );
        let e = tools_asked(r#"{"tools":[{"googleSearch":{}},{"webSearch":{}}]}"#).unwrap_err();
        assert!(e.contains("Unknown name \"webSearch\" at 'tools[1]'"), "{e}");
        assert!(tools_asked(r#"{"tools":{"googleSearch":{}}}"#).is_err(), "tools is a list");
        assert!(tools_asked(r#"{"tools":[{"googleSearch":true}]}"#).is_err(), "a tool is an object");
    }

    #[test]
    fn supports_point_at_real_sentences_by_byte_offset() {
        let text = "Zürich liegt am See. 東京は首都です。\n\n```\nnot. cited.\n```\n- Last one here!";
        let (g, u) = metadata(text, "where?", ToolsAsked { search: true, url_context: false }, 1);
        assert!(u.is_none());
        let g = g.unwrap();
        let supports = g["groundingSupports"].as_array().unwrap();
        let quoted: Vec<&str> = supports.iter().map(|s| s["segment"]["text"].as_str().unwrap()).collect();
        assert_eq!(quoted, ["Zürich liegt am See.", "東京は首都です。", "Last one here!"]);
        for s in supports {
            let start = s["segment"]["startIndex"].as_u64().unwrap_or(0) as usize;
            let end = s["segment"]["endIndex"].as_u64().unwrap() as usize;
            assert_eq!(&text[start..end], s["segment"]["text"].as_str().unwrap());
        }
        assert_eq!(supports[2]["groundingChunkIndices"], json!([2, 0]));
    }

    #[test]
    fn url_context_reads_the_prompts_links() {
        let prompt = "compare https://example.com/a and https://down.invalid/b.";
        let (g, u) = metadata("They differ.", prompt, ToolsAsked { search: false, url_context: true }, 0);
        let u = u.unwrap();
        assert_eq!(u["urlMetadata"][0]["retrievedUrl"], "https://example.com/a");
        assert_eq!(u["urlMetadata"][1]["urlRetrievalStatus"], "URL_RETRIEVAL_STATUS_ERROR");
        assert_eq!(
            g.unwrap()["groundingChunks"],
            json!([{ "web": { "uri": "https://example.com/a", "title": "example.com" } }])
        );
    }
}
