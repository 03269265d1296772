//! Properties of the SSE decoder and the stream classifier, checked against real captured
//! Gemini streams (`tests/data/captures`) and generated streams: chunking invariance (random
//! and exhaustive splits, including inside `\r\n` and multi-byte UTF-8), exact replay results,
//! bounded memory on an endless line, and no panics on arbitrary bytes.

use std::collections::VecDeque;

use geminal::gemini::error::{ApiError, StopReason};
use geminal::gemini::stream::{FinishReason, StreamEvent, classify_chunk, parse_item, replay};
use geminal::net::sse::{DEFAULT_MAX_EVENT_BYTES, SseDecoder, SseError, SseItem, decode_all};
use proptest::prelude::*;
use proptest::sample::select;

const A_PLAIN_TEXT: &[u8] = include_bytes!("data/captures/a_plain_text.sse");
const B_THOUGHTS: &[u8] = include_bytes!("data/captures/b_thoughts.sse");
const C_CRLF_GROUNDING: &[u8] = include_bytes!("data/captures/c_crlf_grounding.sse");
const D_PROMPT_BLOCKED: &[u8] = include_bytes!("data/captures/d_prompt_blocked.sse");
const E_MALFORMED: &[u8] = include_bytes!("data/captures/e_malformed_function_call.sse");
const E_MAX_TOKENS: &[u8] = include_bytes!("data/captures/e_max_tokens_after_thought.sse");
const F_SAFETY: &[u8] = include_bytes!("data/captures/f_safety.sse");
const G_BARE_ERROR: &[u8] = include_bytes!("data/captures/g_bare_error_in_200.sse");
const H_ERROR_EVENT: &[u8] = include_bytes!("data/captures/h_error_event_in_200.sse");

const CAPTURES: &[(&str, &[u8])] = &[
    ("a_plain_text", A_PLAIN_TEXT),
    ("b_thoughts", B_THOUGHTS),
    ("c_crlf_grounding", C_CRLF_GROUNDING),
    ("d_prompt_blocked", D_PROMPT_BLOCKED),
    ("e_malformed_function_call", E_MALFORMED),
    ("e_max_tokens_after_thought", E_MAX_TOKENS),
    ("f_safety", F_SAFETY),
    ("g_bare_error_in_200", G_BARE_ERROR),
    ("h_error_event_in_200", H_ERROR_EVENT),
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// Feeds `bytes` cut at `cuts` (any order, duplicates allowed, each in `0..=len`), then finishes.
fn decode_split(bytes: &[u8], cuts: &[usize]) -> Result<Vec<SseItem>, SseError> {
    let mut cuts = cuts.to_vec();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        decoder.feed(&bytes[start..cut], &mut out)?;
        start = cut;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

fn decode_bytewise(bytes: &[u8]) -> Result<Vec<SseItem>, SseError> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    for b in bytes {
        decoder.feed(std::slice::from_ref(b), &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

/// Offsets where a cut is most likely to break a naive decoder: right after a `\r`, inside a
/// multi-byte UTF-8 sequence, right after a BOM byte.
fn tricky_offsets(bytes: &[u8]) -> Vec<usize> {
    (1..bytes.len()).filter(|&i| bytes[i - 1] == b'\r' || (bytes[i] & 0xC0) == 0x80 || bytes[i - 1] == 0xEF).collect()
}

/// 0..=40 cut positions. Every offset in `0..=len` can be drawn; tricky offsets are favoured.
fn cut_points(bytes: &[u8]) -> BoxedStrategy<Vec<usize>> {
    let len = bytes.len();
    let tricky = tricky_offsets(bytes);
    let one =
        if tricky.is_empty() { (0..=len).boxed() } else { prop_oneof![2 => 0..=len, 1 => select(tricky)].boxed() };
    proptest::collection::vec(one, 0..=40).boxed()
}

/// Runs `replay`'s loop by hand, keeping the events that came before the first error.
fn events_until_error(bytes: &[u8]) -> (Vec<StreamEvent>, Option<ApiError>) {
    let items = decode_all(bytes).expect("the capture decodes");
    let mut events = VecDeque::new();
    for item in items {
        let classified = parse_item(item, "model", None).and_then(|c| classify_chunk(c, &mut events));
        if let Err(e) = classified {
            return (events.into(), Some(e));
        }
    }
    (events.into(), None)
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn texts(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn thoughts(events: &[StreamEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Thought(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn last_usage(events: &[StreamEvent]) -> geminal::gemini::UsageMetadata {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .expect("a usage event")
}

fn finishes(events: &[StreamEvent]) -> Vec<&FinishReason> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Finished(f) => Some(f),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Captures: sanity of the fixtures themselves

#[test]
fn every_capture_decodes_to_the_expected_number_of_items() {
    let expected = [
        ("a_plain_text", 2),
        ("b_thoughts", 3),
        ("c_crlf_grounding", 4),
        ("d_prompt_blocked", 1),
        ("e_malformed_function_call", 1),
        ("e_max_tokens_after_thought", 2),
        ("f_safety", 1),
        ("g_bare_error_in_200", 2),
        ("h_error_event_in_200", 2),
    ];
    for ((name, bytes), (ename, count)) in CAPTURES.iter().zip(expected) {
        assert_eq!(*name, ename);
        let items = decode_all(bytes).unwrap();
        assert_eq!(items.len(), count, "{name}: {items:?}");
        for item in &items {
            let (SseItem::Data(json) | SseItem::Json(json)) = item;
            serde_json::from_str::<serde_json::Value>(json)
                .unwrap_or_else(|e| panic!("{name}: item is not JSON ({e}): {json:?}"));
        }
    }
    let g = decode_all(G_BARE_ERROR).unwrap();
    assert!(matches!(g[0], SseItem::Data(_)), "{g:?}");
    assert!(matches!(g[1], SseItem::Json(_)), "{g:?}");
}

#[test]
fn crlf_captures_really_use_crlf() {
    for bytes in [C_CRLF_GROUNDING, E_MALFORMED, E_MAX_TOKENS] {
        let lf = bytes.iter().filter(|&&b| b == b'\n').count();
        let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
        assert!(lf > 0 && lf == crlf);
        assert!(bytes.ends_with(b"}\r\n\r\n"));
    }
    for bytes in [A_PLAIN_TEXT, B_THOUGHTS, D_PROMPT_BLOCKED, F_SAFETY, H_ERROR_EVENT] {
        assert!(!bytes.contains(&b'\r'));
    }
}

// ---------------------------------------------------------------------------------------------
// Chunking invariance on the captures

/// Every capture, cut at 0..=40 random points, decodes to exactly what `decode_all` gives.
macro_rules! capture_split_props {
    ($($name:ident => $bytes:expr),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            $(
                #[test]
                fn $name(cuts in cut_points($bytes)) {
                    let whole = decode_all($bytes).unwrap();
                    prop_assert_eq!(decode_split($bytes, &cuts).unwrap(), whole);
                }
            )*
        }
    };
}

capture_split_props! {
    random_splits_a_plain_text => A_PLAIN_TEXT,
    random_splits_b_thoughts => B_THOUGHTS,
    random_splits_c_crlf_grounding => C_CRLF_GROUNDING,
    random_splits_d_prompt_blocked => D_PROMPT_BLOCKED,
    random_splits_e_malformed_function_call => E_MALFORMED,
    random_splits_e_max_tokens_after_thought => E_MAX_TOKENS,
    random_splits_f_safety => F_SAFETY,
    random_splits_g_bare_error_in_200 => G_BARE_ERROR,
    random_splits_h_error_event_in_200 => H_ERROR_EVENT,
}

#[test]
fn every_single_split_point_and_bytewise_feeding_agree_on_every_capture() {
    for (name, bytes) in CAPTURES {
        let whole = decode_all(bytes).unwrap();
        for cut in 0..=bytes.len() {
            assert_eq!(decode_split(bytes, &[cut]).unwrap(), whole, "{name}: split at {cut}");
        }
        assert_eq!(decode_bytewise(bytes).unwrap(), whole, "{name}: bytewise");
    }
}

#[test]
fn replay_is_split_invariant_too() {
    // The classified events (not only the items) are the same when the bytes arrive one by one.
    for (name, bytes) in CAPTURES {
        let items = decode_bytewise(bytes).unwrap();
        let mut events = VecDeque::new();
        let mut error = None;
        for item in items {
            if let Err(e) = parse_item(item, "model", None).and_then(|c| classify_chunk(c, &mut events)) {
                error = Some(e);
                break;
            }
        }
        match replay(bytes) {
            Ok(expected) => {
                assert_eq!(error, None, "{name}");
                assert_eq!(Vec::from(events), expected, "{name}");
            }
            Err(expected) => assert_eq!(error, Some(expected), "{name}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated streams

#[derive(Debug, Clone, Copy)]
enum Endings {
    Lf,
    CrLf,
    Cr,
    Mixed,
}

#[derive(Debug, Clone)]
enum Line {
    /// A `data` field; `style` 0 = `data: v`, 1 = `data:v`, 2 = bare `data` (only for "").
    Data {
        value: String,
        style: u8,
    },
    Comment,
    Other(&'static str),
}

#[derive(Debug, Clone)]
struct GenStream {
    bom: bool,
    endings: Endings,
    /// Per-line ending choices for `Mixed` (cycled): 0 LF, 1 CRLF, 2 CR.
    mix: Vec<u8>,
    events: Vec<Vec<Line>>,
    /// Blank lines after each event (1 or 2); the last event may have none (truncated tail).
    blanks: Vec<u8>,
    final_blank: bool,
}

fn value_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("é".to_owned()),
        Just("世界".to_owned()),
        Just("🦀".to_owned()),
        Just(" ".to_owned()),
        Just(":".to_owned()),
        Just("data: ".to_owned()),
        Just("{\"text\": \"".to_owned()),
        Just("\\n\\\"".to_owned()),
        Just("\"}],\"role\": \"model\"}".to_owned()),
        Just("\u{FEFF}".to_owned()),
        "[a-zA-Z0-9 ,.{}\\[\\]\":]{0,8}",
        "[^\r\n]{0,6}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (value_strategy(), 0u8..3).prop_map(|(value, style)| Line::Data { value, style }),
        1 => Just(Line::Comment),
        1 => prop_oneof![Just("event: message"), Just("id: 7"), Just("retry: 1000")].prop_map(Line::Other),
    ]
}

fn event_strategy() -> impl Strategy<Value = Vec<Line>> {
    proptest::collection::vec(line_strategy(), 1..6)
}

fn stream_strategy() -> impl Strategy<Value = GenStream> {
    (
        any::<bool>(),
        prop_oneof![Just(Endings::Lf), Just(Endings::CrLf), Just(Endings::Cr), Just(Endings::Mixed)],
        proptest::collection::vec(0u8..3, 1..16),
        proptest::collection::vec(event_strategy(), 0..8),
        any::<bool>(),
    )
        .prop_flat_map(|(bom, endings, mix, events, final_blank)| {
            let n = events.len();
            (Just(bom), Just(endings), Just(mix), Just(events), proptest::collection::vec(1u8..3, n), Just(final_blank))
        })
        .prop_map(|(bom, endings, mix, events, blanks, final_blank)| GenStream {
            bom,
            endings,
            mix,
            events,
            blanks,
            final_blank,
        })
}

impl GenStream {
    /// The bytes, and the data payloads a correct decoder must yield.
    fn render(&self) -> (Vec<u8>, Vec<SseItem>) {
        let mut text = String::new();
        if self.bom {
            text.push('\u{FEFF}');
        }
        let mut expected = Vec::new();
        let mut line_no = 0usize;
        let mut prev_cr = false;
        let mut push_line = |text: &mut String, content: &str| {
            let choice = match self.endings {
                Endings::Lf => 0,
                Endings::CrLf => 1,
                Endings::Cr => 2,
                Endings::Mixed => {
                    let c = self.mix[line_no % self.mix.len()];
                    // `\r` then an empty line ended by `\n` would read as one `\r\n`: avoid it.
                    if c == 0 && prev_cr && content.is_empty() { 1 } else { c }
                }
            };
            line_no += 1;
            text.push_str(content);
            text.push_str(["\n", "\r\n", "\r"][choice as usize]);
            prev_cr = choice == 2;
        };
        for (i, event) in self.events.iter().enumerate() {
            let mut values = Vec::new();
            for line in event {
                match line {
                    Line::Data { value, style } => {
                        let (content, got) = match style {
                            0 => (format!("data: {value}"), value.clone()),
                            1 => (format!("data:{value}"), value.strip_prefix(' ').unwrap_or(value).to_owned()),
                            _ if value.is_empty() => ("data".to_owned(), String::new()),
                            _ => (format!("data:  {value}"), format!(" {value}")),
                        };
                        values.push(got);
                        push_line(&mut text, &content);
                    }
                    Line::Comment => push_line(&mut text, ": ping"),
                    Line::Other(s) => push_line(&mut text, s),
                }
            }
            if !values.is_empty() {
                expected.push(SseItem::Data(values.join("\n")));
            }
            let last = i + 1 == self.events.len();
            let blanks = if last && !self.final_blank { 0 } else { self.blanks[i] };
            for _ in 0..blanks {
                push_line(&mut text, "");
            }
        }
        (text.into_bytes(), expected)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_streams_decode_to_their_payloads_under_any_split(
        (stream, cuts) in stream_strategy().prop_flat_map(|s| {
            let (bytes, _) = s.render();
            (Just(s), cut_points(&bytes))
        })
    ) {
        let (bytes, expected) = stream.render();
        let whole = decode_all(&bytes).unwrap();
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(decode_split(&bytes, &cuts).unwrap(), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Replay: exact results per capture

#[test]
fn replay_a_plain_text() {
    let events = replay(A_PLAIN_TEXT).unwrap();
    assert_eq!(
        text_of(&events),
        "Here you go!\n\n1.  **English:** Hi\n2.  **Spanish:** Hola\n3.  **French:** Bonjour\n\
         4.  **German:** Hallo\n5.  **Italian:** Ciao"
    );
    assert_eq!(texts(&events).len(), 2);
    assert!(thoughts(&events).is_empty());
    let usage = last_usage(&events);
    assert_eq!(usage.prompt_token_count, 5);
    assert_eq!(usage.candidates_token_count, 44);
    assert_eq!(usage.thoughts_token_count, 186);
    assert_eq!(usage.total_token_count, 235);
    assert_eq!(finishes(&events), [&FinishReason::Stop]);
    assert_eq!(events.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
    assert!(events.contains(&StreamEvent::ModelVersion("models/gemini-2.5-flash-preview-05-20".to_owned())));
}

#[test]
fn replay_b_thoughts_never_leak_into_text() {
    let events = replay(B_THOUGHTS).unwrap();
    let thoughts = thoughts(&events);
    assert_eq!(thoughts.len(), 2);
    assert!(thoughts[0].starts_with("**Considering First Interactions**\n\n"));
    assert!(thoughts[1].starts_with("**Developing Optimal Response Strategies**\n\n"));
    assert_eq!(texts(&events), ["Hi there! How can I help you today?"]);
    assert!(!text_of(&events).contains("**"));
    // The thoughts come before the answer, in wire order.
    let first_text = events.iter().position(|e| matches!(e, StreamEvent::Text(_))).unwrap();
    let last_thought = events.iter().rposition(|e| matches!(e, StreamEvent::Thought(_))).unwrap();
    assert!(last_thought < first_text);
    let usage = last_usage(&events);
    assert_eq!((usage.candidates_token_count, usage.thoughts_token_count, usage.total_token_count), (7, 344, 353));
    assert_eq!(events.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
}

#[test]
fn replay_c_crlf_grounding() {
    let events = replay(C_CRLF_GROUNDING).unwrap();
    assert_eq!(
        texts(&events),
        [
            "As of July 2026, the current stable Long-Term",
            " Support (LTS) version of Node.js is **v24.18.0**, while the latest \"Current\" feature",
            " release is **v26.5.0**.",
        ]
    );
    // The final chunk's empty text part (only a thoughtSignature) yields no Text event.
    assert!(!events.contains(&StreamEvent::Text(String::new())));
    assert!(thoughts(&events).is_empty());
    let usage = last_usage(&events);
    assert_eq!(usage.prompt_token_count, 131);
    assert_eq!(usage.candidates_token_count, 61);
    assert_eq!(usage.thoughts_token_count, 591);
    assert_eq!(usage.total_token_count, 783);
    // The grounding of the last chunk: its one source and the passage it supports (byte
    // offsets into the whole answer); the search entry point's HTML is not read.
    let grounding: Vec<&geminal::grounding::Grounding> =
        events.iter().filter_map(|e| if let StreamEvent::Grounding(g) = e { Some(g) } else { None }).collect();
    assert_eq!(grounding.len(), 1);
    let g = grounding[0];
    assert_eq!(g.sources.len(), 1);
    assert_eq!(g.sources[0].title, "nodejs.org");
    assert!(g.sources[0].uri.starts_with("https://vertexaisearch.cloud.google.com/grounding-api-redirect/"));
    assert_eq!(
        g.citations,
        [geminal::grounding::Citation { start: 148, end: 153, text: "5.0**".into(), sources: vec![0] }]
    );
    assert_eq!(g.queries, ["Node js current LTS version"]);
    let answer: String = texts(&events).concat();
    assert_eq!(&answer[148..153], "5.0**", "the offsets are UTF-8 bytes into the whole answer");
    assert_eq!(finishes(&events), [&FinishReason::Stop]);
    assert_eq!(events.last(), Some(&StreamEvent::Finished(FinishReason::Stop)));
}

#[test]
fn replay_d_prompt_blocked() {
    match replay(D_PROMPT_BLOCKED) {
        Err(ApiError::PromptBlocked { reason }) => {
            assert!(reason.contains("prohibited"), "{reason:?}")
        }
        other => panic!("expected PromptBlocked, got {other:?}"),
    }
}

#[test]
fn replay_e_malformed_function_call() {
    let events = replay(E_MALFORMED).unwrap();
    assert!(texts(&events).is_empty(), "{events:?}");
    assert!(thoughts(&events).is_empty());
    match finishes(&events)[..] {
        [FinishReason::Stopped(StopReason::Other(reason))] => {
            assert!(reason.contains("malformed"), "{reason:?}")
        }
        ref other => panic!("expected one Stopped(Other), got {other:?}"),
    }
    assert_eq!(last_usage(&events).prompt_token_count, 61);
}

#[test]
fn replay_e_max_tokens_after_thought() {
    let events = replay(E_MAX_TOKENS).unwrap();
    assert_eq!(thoughts(&events).len(), 1);
    assert_eq!(texts(&events), ["We"]);
    let text_at = events.iter().position(|e| *e == StreamEvent::Text("We".to_owned())).unwrap();
    let finish = StreamEvent::Finished(FinishReason::Stopped(StopReason::MaxTokens));
    let finish_at = events.iter().position(|e| *e == finish).unwrap();
    assert!(text_at < finish_at);
    assert_eq!(events.last(), Some(&finish));
    assert_eq!(last_usage(&events).thoughts_token_count, 59);
}

#[test]
fn replay_f_safety() {
    let events = replay(F_SAFETY).unwrap();
    assert!(texts(&events).is_empty());
    assert_eq!(events, [StreamEvent::Finished(FinishReason::Stopped(StopReason::Safety))]);
}

#[test]
fn replay_g_bare_error_after_text() {
    let (events, error) = events_until_error(G_BARE_ERROR);
    assert_eq!(texts(&events), ["Voilà la réponse — « en bref » : 世界 🦀"]);
    assert!(finishes(&events).is_empty());
    assert_eq!(error, Some(ApiError::Server { status: 503, overloaded: true, retry_after: None }));
    assert_eq!(replay(G_BARE_ERROR), Err(ApiError::Server { status: 503, overloaded: true, retry_after: None }));
}

#[test]
fn replay_h_error_event_after_text() {
    let (events, error) = events_until_error(H_ERROR_EVENT);
    assert_eq!(texts(&events), ["Sure, here is a first draft"]);
    assert_eq!(error, Some(ApiError::Server { status: 500, overloaded: false, retry_after: None }));
    assert_eq!(replay(H_ERROR_EVENT), Err(ApiError::Server { status: 500, overloaded: false, retry_after: None }));
}

// ---------------------------------------------------------------------------------------------
// Bounded memory

#[test]
fn a_9_mib_line_without_newline_fails_before_it_is_all_fed() {
    const PIECE: usize = 64 * 1024;
    const TOTAL: usize = 9 * 1024 * 1024;
    let piece = vec![b'x'; PIECE];
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut error = None;
    while fed < TOTAL {
        if let Err(e) = decoder.feed(&piece, &mut out) {
            error = Some(e);
            break;
        }
        fed += PIECE;
    }
    assert_eq!(error, Some(SseError::EventTooLarge { limit: DEFAULT_MAX_EVENT_BYTES }));
    assert!(fed < TOTAL, "the error came only after all {fed} bytes");
    // It fails within one piece of the limit, i.e. it never held much more than the limit.
    assert!(fed <= DEFAULT_MAX_EVENT_BYTES + PIECE, "fed {fed}");
    assert!(out.is_empty());
    // The decoder stays failed.
    assert!(decoder.feed(b"\n\n", &mut out).is_err());
    assert!(decoder.finish(&mut out).is_err());
}

#[test]
fn a_9_mib_data_line_fails_too() {
    let piece = vec![b'y'; 64 * 1024];
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(b"data: ", &mut out).unwrap();
    let fed = (0..144).position(|_| decoder.feed(&piece, &mut out).is_err());
    assert!(matches!(fed, Some(n) if n < 144), "{fed:?}");
}

#[test]
fn many_short_data_lines_cannot_grow_one_event_past_the_limit() {
    let mut decoder = SseDecoder::with_limit(4096);
    let mut out = Vec::new();
    let line = b"data: 0123456789abcdef0123456789abcdef\r\n";
    let failed = (0..1000).any(|_| decoder.feed(line, &mut out).is_err());
    assert!(failed);
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------------
// No panics on arbitrary input

#[test]
fn a_bom_on_an_unterminated_last_line_ending_in_cr_does_not_panic() {
    // Regression: finish() used to strip a BOM from the last line and then slice past the buffer.
    assert_eq!(decode_all(b"\r\n\xEF\xBB\xBF\r"), Ok(vec![]));
    assert_eq!(decode_all(b"\xEF\xBB\xBF\xEF\xBB\xBFx\r"), Ok(vec![]));
    assert_eq!(decode_all(b"\xEF\xBB\xBFx\r"), Ok(vec![]));
}

#[test]
fn only_a_bom_at_the_start_of_the_stream_is_stripped() {
    // A BOM mid-stream is part of its line, whether or not the line is terminated.
    let terminated = decode_all(b"data: a\n\n\xEF\xBB\xBFdata: b\n").unwrap();
    let unterminated = decode_all(b"data: a\n\n\xEF\xBB\xBFdata: b").unwrap();
    assert_eq!(terminated, unterminated);
}

fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"[".to_vec()),
        Just(b"{\"error\":{\"code\":503}}".to_vec()),
        Just(b"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}".to_vec()),
        Just("\u{FEFF}".as_bytes().to_vec()),
        Just("🦀".as_bytes()[..2].to_vec()),
    ];
    proptest::collection::vec(token, 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_all_and_replay_never_panic_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000)
    ) {
        let whole = decode_all(&bytes);
        let _ = replay(&bytes);
        prop_assert_eq!(decode_bytewise(&bytes), whole);
    }

    #[test]
    fn decode_all_and_replay_never_panic_on_sse_like_noise(
        (bytes, cuts) in noisy_bytes().prop_flat_map(|b| {
            let cuts = cut_points(&b);
            (Just(b), cuts)
        })
    ) {
        let whole = decode_all(&bytes);
        let _ = replay(&bytes);
        prop_assert_eq!(decode_split(&bytes, &cuts), whole);
    }
}
