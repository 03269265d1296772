//! Turns a [`Behavior`] into the exact bytes and pauses the fake writes for one request.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::behavior::{Answer, Behavior, Fault, LineEnding, Split};
use super::{Rng, demo, grounding, hostile};

/// One thing the fake does on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Sleep(Duration),
    Write(Bytes),
    /// Reset the connection without finishing the body.
    Cut,
    /// Send nothing more but keep the connection open until the client leaves.
    Stall,
}

/// Gap between the pieces of a split event, so each arrives as its own read.
const SPLIT_GAP: Duration = Duration::from_millis(1);

const FILLER: &[&str] = &[
    "Streaming answers arrive in small pieces, so a client must join them without losing a byte.",
    "Each piece is one server-sent event carrying a JSON object with the next bit of text.",
    "Token counts come with every chunk as running totals, and only the last one counts.",
    "A careful client also watches for errors that arrive in the middle of a stream.",
    "When the connection drops, the partial answer is kept and clearly marked as interrupted.",
    "Rate limits are part of life with hosted models, and the server says how long to wait.",
];

/// Approximate token count, as a server would report it.
pub fn tokens(text: &str) -> u32 {
    (text.chars().count() as u32).div_ceil(4)
}

pub fn answer_text(behavior: &Behavior, prompt: &str) -> String {
    match &behavior.answer {
        Answer::Text(text) => text.clone(),
        Answer::Words(n) => {
            let mut words = Vec::with_capacity(*n);
            for sentence in FILLER.iter().cycle() {
                for word in sentence.split(' ') {
                    if words.len() == *n {
                        return words.join(" ");
                    }
                    words.push(word);
                }
            }
            unreachable!("FILLER cycles forever")
        }
        Answer::Demo => demo::demo_answer(prompt).to_owned(),
        Answer::Hostile => hostile::hostile_answer(),
        Answer::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Cuts text into the pieces that become chunks.
fn pieces(text: &str, behavior: &Behavior, rng: &mut Rng) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    if let Some(n) = behavior.chunks {
        let n = n.clamp(1, chars.len());
        return (0..n).map(|i| chars[i * chars.len() / n..(i + 1) * chars.len() / n].iter().collect()).collect();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    let mut target = if behavior.natural_pace { 2 + rng.below(6) } else { 5 };
    for (i, c) in chars.iter().enumerate() {
        current.push(*c);
        let at_word_end = c.is_whitespace() && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
        if at_word_end {
            words += 1;
            if words >= target {
                out.push(std::mem::take(&mut current));
                words = 0;
                target = if behavior.natural_pace { 2 + rng.below(6) } else { 5 };
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

struct Framer<'a> {
    behavior: &'a Behavior,
    steps: Vec<Step>,
    rng: Rng,
    events: usize,
}

impl Framer<'_> {
    fn pause(&mut self) {
        let base = if self.events == 0 { self.behavior.first_token_delay } else { self.behavior.chunk_delay };
        let delay = if self.behavior.natural_pace { base.mul_f64(0.5 + self.rng.unit()) } else { base };
        if !delay.is_zero() {
            self.steps.push(Step::Sleep(delay));
        }
    }

    fn event(&mut self, value: &Value) {
        let le = self.behavior.line_ending.as_str();
        let text = format!("data: {value}{le}{le}");
        self.pause();
        self.write_split(text.into_bytes());
        self.events += 1;
    }

    fn bare(&mut self, text: String) {
        self.pause();
        self.write_split(text.into_bytes());
        self.events += 1;
    }

    fn write_split(&mut self, bytes: Vec<u8>) {
        let cuts: Vec<usize> = match self.behavior.split {
            Split::Whole => Vec::new(),
            Split::Bytes(n) => (1..).map(|i| i * n.max(1)).take_while(|&c| c < bytes.len()).collect(),
            Split::Tricky => tricky_cuts(&bytes, self.behavior.line_ending),
        };
        let mut start = 0;
        for cut in cuts.into_iter().chain(std::iter::once(bytes.len())) {
            if start > 0 {
                self.steps.push(Step::Sleep(SPLIT_GAP));
            }
            self.steps.push(Step::Write(Bytes::copy_from_slice(&bytes[start..cut])));
            start = cut;
        }
    }
}

/// Cut points inside `data:`, inside the first multi-byte character and inside the final line ending.
fn tricky_cuts(bytes: &[u8], ending: LineEnding) -> Vec<usize> {
    let mut cuts = vec![3];
    if let Some(pos) = bytes.iter().position(|b| *b >= 0xC0) {
        cuts.push(pos + 1);
    }
    if bytes.len() >= 2 {
        cuts.push(bytes.len() - 1);
        if ending == LineEnding::Crlf && bytes.len() >= 3 {
            cuts.push(bytes.len() - 3);
        }
    }
    cuts.retain(|&c| c > 0 && c < bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

fn usage(prompt_tokens: u32, answer_tokens: u32, thought_tokens: u32) -> Value {
    let mut usage = json!({
        "promptTokenCount": prompt_tokens,
        "totalTokenCount": prompt_tokens + answer_tokens + thought_tokens,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": prompt_tokens }],
    });
    if answer_tokens > 0 {
        usage["candidatesTokenCount"] = json!(answer_tokens);
    }
    if thought_tokens > 0 {
        usage["thoughtsTokenCount"] = json!(thought_tokens);
    }
    usage
}

/// The usage a chunk carries: the behaviour's own, else counted.
fn counted(behavior: &Behavior, prompt_tokens: u32, answer_tokens: u32, thought_tokens: u32) -> Value {
    behavior.usage.clone().unwrap_or_else(|| usage(prompt_tokens, answer_tokens, thought_tokens))
}

fn chunk(parts: Value, finish: Option<&str>, usage: Value, model: &str, response_id: &str) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    json!({ "candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": response_id })
}

/// Puts the metadata of the tools the request asked for on the chunk's candidate.
fn add_tool_metadata(chunk: &mut Value, behavior: &Behavior, text: &str, prompt: &str, seed: u64) {
    if !behavior.tools.any() {
        return;
    }
    let (grounding, url_context) = grounding::metadata(text, prompt, behavior.tools, seed);
    let candidate = &mut chunk["candidates"][0];
    if let Some(g) = grounding {
        candidate["groundingMetadata"] = g;
    }
    if let Some(u) = url_context {
        candidate["urlContextMetadata"] = u;
    }
}

fn hash_seed(prompt: &str) -> u64 {
    super::hash(prompt)
}

fn compact_error(status: u16) -> Value {
    let pretty = Fault::error_body(status);
    serde_json::from_str(&pretty).unwrap_or(Value::Null)
}

/// The steps of a `streamGenerateContent?alt=sse` body. Thought summaries are sent as parts
/// only when the request asked for them (`include_thoughts`); their tokens are billed either way.
pub fn stream_steps(
    behavior: &Behavior,
    prompt: &str,
    model: &str,
    response_id: &str,
    seed: u64,
    include_thoughts: bool,
) -> Vec<Step> {
    let mut f = Framer { behavior, steps: Vec::new(), rng: Rng::new(seed), events: 0 };
    if let Answer::Raw(bytes) = &behavior.answer {
        f.pause();
        f.write_split(bytes.to_vec());
        return f.steps;
    }
    let prompt_tokens = tokens(prompt).max(1);
    if let Some(Fault::PromptBlocked(reason)) = &behavior.fault {
        let value = json!({ "promptFeedback": { "blockReason": reason }, "usageMetadata": counted(behavior, prompt_tokens, 0, 0), "modelVersion": model });
        f.event(&value);
        return f.steps;
    }
    let mut thought_tokens = 0;
    for i in 0..behavior.thoughts {
        let text = format!(
            "**Thinking step {}**\n\nI'm working out how best to answer \"{}\".\n\n",
            i + 1,
            crate::sanitize::one_line(prompt, 40)
        );
        thought_tokens += tokens(&text) * 4;
        if include_thoughts {
            let parts = json!([{ "text": text, "thought": true }]);
            f.event(&chunk(parts, None, counted(behavior, prompt_tokens, 0, thought_tokens), model, response_id));
        }
    }
    let text = answer_text(behavior, prompt);
    let mut rng = Rng::new(seed ^ 0x9e37);
    let pieces = pieces(&text, behavior, &mut rng);
    let (stop_at, stream_fault) = match &behavior.fault {
        Some(
            fault @ (Fault::BareErrorAfter { after, .. }
            | Fault::ErrorEventAfter { after, .. }
            | Fault::CutAfter(after)
            | Fault::StallAfter(after)
            | Fault::TruncateAfter(after)
            | Fault::StopAfter { after, .. }
            | Fault::DribbleAfter { after, .. }
            | Fault::MalformedAfter(after)),
        ) => ((*after).min(pieces.len()), Some(fault)),
        _ => (pieces.len(), None),
    };
    // As in real captures, the last chunk holds an empty text part with a signature after
    // thinking, and the grounding metadata when tools were used.
    let signature_chunk = behavior.thoughts > 0 || behavior.tools.any();
    let mut answer_tokens = 0;
    for (i, piece) in pieces.iter().take(stop_at).enumerate() {
        answer_tokens += tokens(piece);
        let last = i + 1 == pieces.len() && stream_fault.is_none() && !signature_chunk;
        let parts = json!([{ "text": piece }]);
        f.event(&chunk(
            parts,
            last.then_some("STOP"),
            counted(behavior, prompt_tokens, answer_tokens, thought_tokens),
            model,
            response_id,
        ));
    }
    let final_usage = counted(behavior, prompt_tokens, answer_tokens, thought_tokens);
    match stream_fault {
        None if signature_chunk => {
            let parts = json!([{ "text": "", "thoughtSignature": "EtEOCs4OARFNMg9sZmFrZS1zaWduYXR1cmU=" }]);
            let mut last = chunk(parts, Some("STOP"), final_usage, model, response_id);
            add_tool_metadata(&mut last, behavior, &text, prompt, hash_seed(prompt));
            f.event(&last);
        }
        None => {}
        Some(Fault::BareErrorAfter { status, .. }) => f.bare(Fault::error_body(*status)),
        Some(Fault::ErrorEventAfter { status, .. }) => f.event(&compact_error(*status)),
        Some(Fault::CutAfter(_)) => {
            f.pause();
            f.steps.push(Step::Cut);
        }
        Some(Fault::StallAfter(_)) => f.steps.push(Step::Stall),
        Some(Fault::TruncateAfter(_)) => {}
        Some(Fault::DribbleAfter { gap, .. }) => {
            let rest: String = pieces[stop_at..].concat();
            let usage = counted(behavior, prompt_tokens, answer_tokens + tokens(&rest), thought_tokens);
            let value = chunk(json!([{ "text": rest }]), Some("STOP"), usage, model, response_id);
            let le = behavior.line_ending.as_str();
            for byte in format!("data: {value}{le}{le}").bytes() {
                f.steps.push(Step::Sleep(*gap));
                f.steps.push(Step::Write(Bytes::copy_from_slice(&[byte])));
            }
        }
        Some(Fault::MalformedAfter(_)) => {
            let le = behavior.line_ending.as_str();
            f.pause();
            f.steps.push(Step::Write(Bytes::from(format!("data: {{\"candidates\": [{{\"content\"{le}{le}"))));
        }
        Some(Fault::StopAfter { reason, .. }) => {
            let value = json!({ "candidates": [{ "finishReason": reason, "index": 0 }], "usageMetadata": final_usage, "modelVersion": model, "responseId": response_id });
            f.event(&value);
        }
        Some(_) => {}
    }
    f.steps
}

/// The steps of a unary `generateContent` body (pretty JSON, as Google sends it).
pub fn unary_steps(behavior: &Behavior, prompt: &str, model: &str, response_id: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if !behavior.first_token_delay.is_zero() {
        steps.push(Step::Sleep(behavior.first_token_delay));
    }
    let prompt_tokens = tokens(prompt).max(1);
    let text = answer_text(behavior, prompt);
    let value = match &behavior.fault {
        Some(Fault::PromptBlocked(reason)) => {
            json!({ "promptFeedback": { "blockReason": reason }, "usageMetadata": counted(behavior, prompt_tokens, 0, 0), "modelVersion": model })
        }
        Some(Fault::StallAfter(_)) => {
            steps.push(Step::Stall);
            return steps;
        }
        Some(Fault::BareErrorAfter { status, .. } | Fault::ErrorEventAfter { status, .. }) => compact_error(*status),
        Some(Fault::StopAfter { reason, .. }) => {
            json!({ "candidates": [{ "finishReason": reason, "index": 0 }], "usageMetadata": counted(behavior, prompt_tokens, 0, 0), "modelVersion": model, "responseId": response_id })
        }
        _ => {
            let mut value = chunk(
                json!([{ "text": text }]),
                Some("STOP"),
                counted(behavior, prompt_tokens, tokens(&text), 0),
                model,
                response_id,
            );
            add_tool_metadata(&mut value, behavior, &text, prompt, hash_seed(prompt));
            value
        }
    };
    let mut body = serde_json::to_string_pretty(&value).unwrap_or_default().into_bytes();
    body.push(b'\n');
    match &behavior.fault {
        Some(Fault::CutAfter(_) | Fault::TruncateAfter(_)) => {
            body.truncate(body.len() / 2);
            steps.push(Step::Write(body.into()));
            steps.push(Step::Cut);
        }
        _ => steps.push(Step::Write(body.into())),
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(steps: &[Step]) -> Vec<u8> {
        steps.iter().flat_map(|s| if let Step::Write(b) = s { b.to_vec() } else { Vec::new() }).collect()
    }

    #[test]
    fn chunk_count_is_honoured_and_text_is_whole() {
        let b = Behavior::text("one two three four five six seven").with_chunks(3);
        let events = crate::gemini::stream::replay(&body(&stream_steps(&b, "p", "m", "r", 1, false))).unwrap();
        let texts: Vec<_> = events
            .iter()
            .filter_map(|e| if let crate::gemini::StreamEvent::Text(t) = e { Some(t.clone()) } else { None })
            .collect();
        assert_eq!(texts.len(), 3);
        assert_eq!(texts.concat(), "one two three four five six seven");
    }

    #[test]
    fn tricky_splits_cut_inside_characters_and_line_endings() {
        let b = Behavior::text("héllo wörld").with_split(Split::Tricky).with_chunks(1);
        let steps = stream_steps(&b, "p", "m", "r", 1, false);
        let writes: Vec<_> =
            steps.iter().filter_map(|s| if let Step::Write(b) = s { Some(b.clone()) } else { None }).collect();
        assert!(writes.len() >= 4, "{writes:?}");
        assert!(writes.iter().any(|w| std::str::from_utf8(w).is_err()), "some write ends mid-codepoint");
        assert!(writes.iter().any(|w| w.ends_with(b"\r")), "some write ends between CR and LF");
    }

    #[test]
    fn words_answer_has_the_requested_length() {
        let b = Behavior::default().with_answer(Answer::Words(123));
        assert_eq!(answer_text(&b, "").split_whitespace().count(), 123);
    }
}
