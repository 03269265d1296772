//! Frame costs of the full-screen interface, drawn on ratatui's TestBackend at 120×40:
//!
//! * `frame_16_tabs_streaming_5000_open`: 16 tabs streaming (one chunk arrives in each) while
//!   the visible tab holds a 5,000-message conversation; one frame = prepare + draw.
//! * `chunk_to_screen`: one chunk into the visible tab's answer, then the frame that shows it
//!   (the client-side latency from arrival to pixels, excluding the ≤16 ms frame tick wait).
//! * `open_5000_message_conversation`: the first frame after reopening a 5,000-message
//!   conversation (every message rendered once, cold).
//!
//! * `frame_16_tabs_streaming_code_5000_open`: as the first, but every answer is code in several
//!   languages (syntax colour on) and the chunks arrive inside an open code block.
//! * `open_5000_code_message_conversation`: the first frame of a 5,000-message conversation whose
//!   answers are all different code blocks, none highlighted before (cold highlighting).
//!
//! Targets (issue): ≤ 2 ms per frame; a chunk on screen within one frame.
//! Run: `cargo bench --bench tui`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use geminal::chat::{Role, Shown};
use geminal::store::{MessageStatus, StoredMessage};
use geminal::tui::app::{App, AppEvent};
use geminal::tui::keys::Action;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const ANSWER: &str = "## A heading\n\nSome **bold** and *italic* text with `code`, long enough to wrap across the width of the terminal more than once.\n\n```rust\nfn main() {\n    println!(\"hello\");\n}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n";

/// An answer made of code blocks in four languages; `salt` makes each one's code different.
fn code_answer(salt: usize) -> String {
    format!(
        "Three versions:\n\n```rust\nfn answer_{salt}(x: u64) -> u64 {{\n    // doubles\n    x * {salt} + \"s\".len() as u64\n}}\n```\n\n\
         ```python\ndef answer_{salt}(x):\n    \"\"\"Doubles.\"\"\"\n    return x * {salt}  # note\n```\n\n\
         ```sql\nSELECT id, title FROM conversations WHERE id = {salt} ORDER BY updated_at DESC;\n```\n\n\
         ```json\n{{\"id\": {salt}, \"ok\": true, \"tags\": [\"a\", \"b\"]}}\n```\n"
    )
}

fn stored(n: usize) -> Vec<StoredMessage> {
    stored_with(n, |_| ANSWER.to_owned())
}

fn stored_with(n: usize, answer: impl Fn(usize) -> String) -> Vec<StoredMessage> {
    (0..n)
        .map(|i| StoredMessage {
            id: i as i64,
            conversation_id: 1,
            role: if i % 2 == 0 { Role::User } else { Role::Model },
            text: if i % 2 == 0 { format!("question number {i}, asked plainly?") } else { answer(i) },
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
        .collect()
}

fn open(app: &mut App, n: usize) {
    open_messages(app, stored(n));
}

fn open_messages(app: &mut App, messages: Vec<StoredMessage>) {
    app.on_event(AppEvent::Opened {
        tool_calls: Vec::new(),
        id: 1,
        title: "long".into(),
        model: "gemini-flash-latest".into(),
        system: None,
        settings: None,
        messages,
    });
}

/// 16 tabs with an answer being written; the first shows a 5,000-message conversation.
fn busy_app() -> App {
    busy_app_with(stored(5_000))
}

fn busy_app_with(messages: Vec<StoredMessage>) -> App {
    let mut app = App::new("gemini-flash-latest", false);
    open_messages(&mut app, messages);
    for _ in 0..15 {
        app.on_action(Action::NewTab);
    }
    for tab in &mut app.tabs {
        tab.messages.push(geminal::tui::tab::ChatMessage::user("a question"));
        tab.messages.push(geminal::tui::tab::ChatMessage::answer("gemini-flash-latest"));
        tab.streaming = true;
        // Each tab runs a turn of its own (numbered like the tabs, for the events below).
        tab.turn = Some(tab.id);
    }
    app.on_action(Action::GoToTab(0));
    app
}

/// Keeps streamed answers at a realistic size (a long answer is ~4,000 characters): a longer
/// one starts over, as the next answer would.
fn restart_long_answers(app: &mut App) {
    restart_long_answers_with(app, ANSWER);
}

fn restart_long_answers_with(app: &mut App, start: &str) {
    for tab in &mut app.tabs {
        if let Some(answer) = tab.messages.last_mut()
            && answer.text.len() > ANSWER_SIZE
        {
            answer.text = start.to_owned();
            tab.revision += 1;
        }
    }
}

const ANSWER_SIZE: usize = 4_000;

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("tui");
    group.measurement_time(Duration::from_secs(4)).sample_size(40);

    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut app = busy_app();
    geminal::tui::draw(&mut terminal, &mut app).unwrap();
    let ids: Vec<u64> = app.tabs.iter().map(|t| t.id).collect();
    group.bench_function("frame_16_tabs_streaming_5000_open", |b| {
        b.iter(|| {
            for &tab in &ids {
                app.on_event(AppEvent::Turn { turn: tab, shown: Shown::Text("more words of the answer ".into()) });
            }
            restart_long_answers(&mut app);
            geminal::tui::draw(&mut terminal, &mut app).unwrap();
        })
    });

    let mut app = busy_app();
    geminal::tui::draw(&mut terminal, &mut app).unwrap();
    let visible = app.tab().id;
    group.bench_function("chunk_to_screen", |b| {
        b.iter(|| {
            app.on_event(AppEvent::Turn { turn: visible, shown: Shown::Text(black_box("a chunk of text ").into()) });
            restart_long_answers(&mut app);
            geminal::tui::draw(&mut terminal, &mut app).unwrap();
        })
    });

    // Code everywhere, syntax colour on: the streamed chunks land inside an open ```rust block.
    let open_fence = format!("{}\n```rust\nfn streamed() {{\n", code_answer(0));
    let mut app = busy_app_with(stored_with(5_000, code_answer));
    app.theme = geminal::tui::theme::Theme::new(geminal::tui::theme::ThemeName::Dark, true);
    for tab in &mut app.tabs {
        if let Some(answer) = tab.messages.last_mut() {
            answer.text = open_fence.clone();
        }
    }
    geminal::tui::draw(&mut terminal, &mut app).unwrap();
    let ids: Vec<u64> = app.tabs.iter().map(|t| t.id).collect();
    let mut n = 0u64;
    group.bench_function("frame_16_tabs_streaming_code_5000_open", |b| {
        b.iter(|| {
            n += 1;
            for &tab in &ids {
                let chunk = format!("    let v{n} = values.iter().map(|x| x * {n}).sum::<u64>(); // step\n");
                app.on_event(AppEvent::Turn { turn: tab, shown: Shown::Text(chunk) });
            }
            restart_long_answers_with(&mut app, &open_fence);
            geminal::tui::draw(&mut terminal, &mut app).unwrap();
        })
    });

    group.sample_size(10);
    let mut salt = 0;
    group.bench_function("open_5000_code_message_conversation", |b| {
        b.iter_batched(
            || {
                salt += 5_000;
                let mut app = App::new("gemini-flash-latest", false);
                app.theme = geminal::tui::theme::Theme::new(geminal::tui::theme::ThemeName::Dark, true);
                (app, stored_with(5_000, |i| code_answer(salt + i)))
            },
            |(mut app, messages)| {
                open_messages(&mut app, messages);
                geminal::tui::draw(&mut terminal, &mut app).unwrap();
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("open_5000_message_conversation", |b| {
        b.iter_batched(
            || {
                let mut app = App::new("gemini-flash-latest", false);
                app.theme = geminal::tui::theme::Theme::new(geminal::tui::theme::ThemeName::Dark, true);
                app
            },
            |mut app| {
                open(&mut app, 5_000);
                geminal::tui::draw(&mut terminal, &mut app).unwrap();
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
