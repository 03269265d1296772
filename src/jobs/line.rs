//! The JSON line of one prompt's result, as `batch` writes it: one function builds it for a
//! local batch, a remote batch and `jobs wait`/`fetch`, so the three write the same bytes for
//! the same answer (key order included: scripts and `--resume` read these lines).

use serde_json::{Value, json};

use crate::error_data::ErrorKind;

/// What every line says of its prompt.
#[derive(Debug, Clone, Copy)]
pub struct LineHead<'a> {
    pub id: &'a str,
    /// `None` for an input line that is not a prompt.
    pub prompt: Option<&'a str>,
    pub model: Option<&'a str>,
    /// Measured by a local batch; a remote job's lines have none.
    pub latency_ms: Option<u64>,
}

/// An answer's part of a line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answered<'a> {
    pub answer: &'a str,
    /// Prompt, output and thought tokens.
    pub tokens: [u32; 3],
    pub cached: bool,
    pub cost_usd: Option<f64>,
    /// What the cache saved (a cached answer).
    pub saved_usd: Option<f64>,
    pub thoughts: &'a str,
    pub grounding: Option<&'a crate::grounding::Grounding>,
}

/// A failure's part of a line: its kind, the words for it, and what came before it failed.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub kind: ErrorKind,
    pub message: &'a str,
    /// The text received before the failure and what it cost (`None`: nothing was asked).
    pub partial: Option<(&'a str, Option<f64>)>,
}

/// The line of an answered prompt.
pub fn answered_line(head: &LineHead<'_>, a: &Answered<'_>) -> Value {
    let mut line = json!({
        "id": head.id, "prompt": head.prompt, "answer": a.answer, "model": head.model,
        "prompt_tokens": a.tokens[0], "output_tokens": a.tokens[1], "thought_tokens": a.tokens[2],
        "latency_ms": head.latency_ms, "cached": a.cached, "error": null, "cost_usd": a.cost_usd,
    });
    if let Some(saved) = a.saved_usd {
        line["saved_usd"] = json!(saved);
    }
    if !a.thoughts.is_empty() {
        line["thoughts"] = Value::String(a.thoughts.to_owned());
    }
    // The answer as written; its sources and citations (byte offsets into it) beside it.
    if let Some(grounding) = a.grounding {
        crate::grounding::Grounding::add_json_fields(Some(grounding), &mut line);
    }
    line
}

/// The line of a prompt that failed (or was never sent).
pub fn failed_line(head: &LineHead<'_>, f: &Failed<'_>) -> Value {
    let (answer, cost_usd) = match f.partial {
        Some((text, cost)) => (Value::String(text.to_owned()), json!(cost)),
        None => (Value::Null, Value::Null),
    };
    json!({
        "id": head.id, "prompt": head.prompt, "answer": answer, "model": head.model, "prompt_tokens": null,
        "output_tokens": null, "latency_ms": head.latency_ms, "cached": false, "cost_usd": cost_usd,
        "error": { "kind": f.kind.as_str(), "message": crate::sanitize::one_line(f.message, 300) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes each of the three builders wrote before they became these two functions.
    #[test]
    fn lines_are_byte_for_byte_what_batch_wrote_before() {
        let head = LineHead { id: "7", prompt: Some("hi"), model: Some("gemini-2.5-flash"), latency_ms: Some(12) };
        let a = Answered { answer: "hello", tokens: [3, 2, 1], cost_usd: Some(0.5), ..Answered::default() };
        assert_eq!(
            answered_line(&head, &a).to_string(),
            r#"{"id":"7","prompt":"hi","answer":"hello","model":"gemini-2.5-flash","prompt_tokens":3,"output_tokens":2,"thought_tokens":1,"latency_ms":12,"cached":false,"error":null,"cost_usd":0.5}"#
        );
        let cached = Answered { cached: true, saved_usd: Some(0.25), thoughts: "hmm", ..a };
        assert_eq!(
            answered_line(&head, &cached).to_string(),
            r#"{"id":"7","prompt":"hi","answer":"hello","model":"gemini-2.5-flash","prompt_tokens":3,"output_tokens":2,"thought_tokens":1,"latency_ms":12,"cached":true,"error":null,"cost_usd":0.5,"saved_usd":0.25,"thoughts":"hmm"}"#
        );
        let failed = Failed { kind: ErrorKind::RateLimited, message: "slow\ndown", partial: None };
        assert_eq!(
            failed_line(&head, &failed).to_string(),
            r#"{"id":"7","prompt":"hi","answer":null,"model":"gemini-2.5-flash","prompt_tokens":null,"output_tokens":null,"latency_ms":12,"cached":false,"cost_usd":null,"error":{"kind":"rate_limited","message":"slow down"}}"#
        );
        let partial = Failed { partial: Some(("par", Some(0.1))), ..failed };
        assert_eq!(
            failed_line(&head, &partial).to_string(),
            r#"{"id":"7","prompt":"hi","answer":"par","model":"gemini-2.5-flash","prompt_tokens":null,"output_tokens":null,"latency_ms":12,"cached":false,"cost_usd":0.1,"error":{"kind":"rate_limited","message":"slow down"}}"#
        );
        let unread = LineHead { id: "3", prompt: None, model: None, latency_ms: None };
        let bad = Failed { kind: ErrorKind::BadInput, message: "not JSON", partial: None };
        assert_eq!(
            failed_line(&unread, &bad).to_string(),
            r#"{"id":"3","prompt":null,"answer":null,"model":null,"prompt_tokens":null,"output_tokens":null,"latency_ms":null,"cached":false,"cost_usd":null,"error":{"kind":"bad_input","message":"not JSON"}}"#
        );
    }
}
