//! Frame costs of the full-screen interface, drawn on ratatui's TestBackend at 120×40:
//!
//! * `frame_16_tabs_streaming_5000_open`: 16 tabs streaming (one chunk arrives in each) while
//!   the visible tab holds a 5,000-message conversation; one frame = prepare + draw.
//! * `chunk_to_screen`: one chunk into the visible tab's answer, then the frame that shows it
//!   (the client-side latency from arrival to pixels, excluding the ≤16 ms frame tick wait).
//! * `open_5000_message_conversation`: the first frame after reopening a 5,000-message
//!   conversation (every message rendered once, cold).
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

fn stored(n: usize) -> Vec<StoredMessage> {
    (0..n)
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
            alternatives: Default::default(),
        })
        .collect()
}

fn open(app: &mut App, n: usize) {
    app.on_event(AppEvent::Opened {
        id: 1,
        title: "long".into(),
        model: "gemini-flash-latest".into(),
        system: None,
        messages: stored(n),
    });
}

/// 16 tabs with an answer being written; the first shows a 5,000-message conversation.
fn busy_app() -> App {
    let mut app = App::new("gemini-flash-latest", false);
    open(&mut app, 5_000);
    for _ in 0..15 {
        app.on_action(Action::NewTab);
    }
    for tab in &mut app.tabs {
        tab.messages.push(geminal::tui::tab::ChatMessage::user("a question"));
        tab.messages.push(geminal::tui::tab::ChatMessage::answer("gemini-flash-latest"));
        tab.streaming = true;
    }
    app.on_action(Action::GoToTab(0));
    app
}

/// Keeps streamed answers at a realistic size (a long answer is ~4,000 characters): a longer
/// one starts over, as the next answer would.
fn restart_long_answers(app: &mut App) {
    for tab in &mut app.tabs {
        if let Some(answer) = tab.messages.last_mut()
            && answer.text.len() > ANSWER_SIZE
        {
            answer.text = ANSWER.to_owned();
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
                app.on_event(AppEvent::Turn { tab, shown: Shown::Text("more words of the answer ".into()) });
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
            app.on_event(AppEvent::Turn { tab: visible, shown: Shown::Text(black_box("a chunk of text ").into()) });
            restart_long_answers(&mut app);
            geminal::tui::draw(&mut terminal, &mut app).unwrap();
        })
    });

    group.sample_size(10);
    group.bench_function("open_5000_message_conversation", |b| {
        b.iter_batched(
            || App::new("gemini-flash-latest", false),
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
