//! The bodies of three criterion benches run a fixed number of times, for instruction counts
//! that stay repeatable on a loaded machine (wall times do not):
//!
//!   valgrind --tool=callgrind --toggle-collect='insn_probe::measured_*' \
//!       target/release/examples/insn_probe WHICH N
//!
//! WHICH is `replay` (benches/sse `replay_decode_parse_classify`: an ~8 MB stream decoded,
//! parsed and classified), `last16` (benches/sse `last_16_bytes_to_text`: the last 16 bytes of
//! one event to its text) or `frame` (benches/tui `frame_16_tabs_streaming_5000_open`: a chunk
//! into each of 16 streaming tabs, then the frame). Only the `measured_*` functions are counted
//! with the toggle above, so setup is left out; divide by N. scripts/bench-insns.sh runs it.

use std::collections::VecDeque;
use std::hint::black_box;

use geminal::chat::{Role, Shown};
use geminal::gemini::stream::{StreamEvent, classify_chunk, parse_item, replay};
use geminal::net::sse::{SseDecoder, SseItem};
use geminal::store::{MessageStatus, StoredMessage};
use geminal::tui::app::{App, AppEvent};
use geminal::tui::keys::Action;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const CAPTURE_C: &[u8] = include_bytes!("../tests/data/captures/c_crlf_grounding.sse");

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    match which.as_str() {
        "replay" => {
            let stream = large_stream();
            for _ in 0..n {
                black_box(measured_replay(black_box(&stream)));
            }
        }
        "last16" => {
            let event = capture_c_events()[1].to_vec();
            let (head, tail) = event.split_at(event.len() - 16);
            for _ in 0..n {
                let mut decoder = SseDecoder::new();
                let mut items = Vec::with_capacity(4);
                decoder.feed(head, &mut items).expect("the head decodes");
                let mut events = VecDeque::with_capacity(8);
                measured_last16(&mut decoder, &mut items, &mut events, black_box(tail));
                black_box((decoder, items, events));
            }
        }
        "frame" => {
            let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
            let mut app = busy_app();
            geminal::tui::draw(&mut terminal, &mut app).unwrap();
            let ids: Vec<u64> = app.tabs.iter().map(|t| t.id).collect();
            for _ in 0..n {
                measured_frame(&mut terminal, &mut app, &ids);
            }
        }
        _ => {
            eprintln!("usage: insn_probe replay|last16|frame N");
            std::process::exit(2);
        }
    }
}

#[inline(never)]
fn measured_replay(stream: &[u8]) -> usize {
    replay(stream).expect("replays").len()
}

#[inline(never)]
fn measured_last16(
    decoder: &mut SseDecoder,
    items: &mut Vec<SseItem>,
    events: &mut VecDeque<StreamEvent>,
    tail: &[u8],
) {
    decoder.feed(tail, items).expect("the tail decodes");
    let item = items.pop().expect("the tail completes the event");
    let chunk = parse_item(item, "model", None).expect("the event parses");
    classify_chunk(chunk, events).expect("the event classifies");
    let text = events.iter().find_map(|e| match e {
        StreamEvent::Text(t) => Some(t.len()),
        _ => None,
    });
    assert!(text.is_some(), "the event carries text");
}

#[inline(never)]
fn measured_frame(terminal: &mut Terminal<TestBackend>, app: &mut App, ids: &[u64]) {
    for &tab in ids {
        app.on_event(AppEvent::Turn { turn: tab, shown: Shown::Text("more words of the answer ".into()) });
    }
    for tab in &mut app.tabs {
        if let Some(answer) = tab.messages.last_mut()
            && answer.text.len() > 4_000
        {
            answer.text = ANSWER.to_owned();
            tab.revision += 1;
        }
    }
    geminal::tui::draw(terminal, app).unwrap();
}

/// The `data:` events of capture C, each with its `\r\n\r\n`.
fn capture_c_events() -> Vec<&'static [u8]> {
    let mut events = Vec::new();
    let mut rest = CAPTURE_C;
    while let Some(at) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        events.push(&rest[..at + 4]);
        rest = &rest[at + 4..];
    }
    events
}

/// The ~8 MB stream of benches/sse.rs: capture C's middle chunk ~20,000 times, text varied.
fn large_stream() -> Vec<u8> {
    let events = capture_c_events();
    let middle = std::str::from_utf8(events[1]).expect("capture C is UTF-8");
    let original = "\" Support (LTS) version of Node.js is **v24.18.0**, while the latest \\\"Current\\\" feature\"";
    let mut stream = events[0].to_vec();
    let extras = ["", " é", " 世界", " — ok", " 🦀", " and more words to vary the length"];
    let mut i = 0usize;
    while stream.len() < 8_000_000 {
        let text = format!(
            " Support (LTS) version of Node.js is **v24.{}.{}**, while the latest \"Current\" feature{}",
            i % 97,
            i % 13,
            extras[i % extras.len()]
        );
        let quoted = serde_json::to_string(&text).expect("a string serialises");
        stream.extend_from_slice(middle.replacen(original, &quoted, 1).as_bytes());
        i += 1;
    }
    stream.extend_from_slice(events[3]);
    stream
}

const ANSWER: &str = "## A heading\n\nSome **bold** and *italic* text with `code`, long enough to wrap across the width of the terminal more than once.\n\n```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n";

/// 16 tabs with an answer being written; the first shows a 5,000-message conversation.
fn busy_app() -> App {
    let messages = (0..5_000)
        .map(|i| StoredMessage {
            id: i as i64,
            conversation_id: 1,
            role: if i % 2 == 0 { Role::User } else { Role::Model },
            text: if i % 2 == 0 { format!("question number {i}, asked plainly?") } else { ANSWER.to_owned() },
            model: Some("gemini-flash-latest".into()),
            status: MessageStatus::Complete,
            error: None,
            prompt_tokens: None,
            output_tokens: None,
            cached: false,
            created_at: 0,
            parent_id: None,
            thought_tokens: None,
            thoughts: None,
            grounding: None,
            alternatives: Default::default(),
            attachments: Vec::new(),
            cost: Default::default(),
        })
        .collect();
    let mut app = App::new("gemini-flash-latest", false);
    app.on_event(AppEvent::Opened {
        tool_calls: Vec::new(),
        id: 1,
        title: "long".into(),
        model: "gemini-flash-latest".into(),
        system: None,
        settings: None,
        messages,
    });
    for _ in 0..15 {
        app.on_action(Action::NewTab);
    }
    for tab in &mut app.tabs {
        tab.messages.push(geminal::tui::tab::ChatMessage::user("a question"));
        tab.messages.push(geminal::tui::tab::ChatMessage::answer("gemini-flash-latest"));
        tab.streaming = true;
        tab.turn = Some(tab.id);
    }
    app.on_action(Action::GoToTab(0));
    app
}
