//! Attachments in the full-screen interface: `/attach` and `@path` put files on the next prompt
//! (shown on the prompt's border, removable), the prompt carries them to the runner, and the
//! conversation shows them on the user message ("📎 report.pdf · 2.1 MiB"), reopened too.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use geminal::attach::{Attachment, from_bytes};
use geminal::chat::{Branch, Outcome, Shown, TurnReport};
use geminal::domain::Role;
use geminal::store::{MessageStatus, StoredMessage};
use geminal::tui::app::{App, AppEvent, Command};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn enter(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_terminal(key(KeyCode::Char(c)));
    }
    app.on_terminal(key(KeyCode::Enter));
}

fn pdf() -> Attachment {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.resize(2_200_000, b' ');
    from_bytes("report.pdf", bytes).unwrap()
}

fn screen(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    geminal::tui::draw(&mut terminal, app).unwrap();
    terminal
}

fn text_of(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    // A wide character fills two cells: the second is skipped.
    (0..buffer.area.height)
        .map(|y| {
            let mut line = String::new();
            let mut x = 0;
            while x < buffer.area.width {
                let symbol = buffer[(x, y)].symbol();
                line.push_str(symbol);
                x += unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_attached_file_rides_on_the_next_prompt_and_shows_on_the_message() {
    let mut app = App::new("gemini-flash-latest", false);
    enter(&mut app, "/attach ~/papers/report.pdf");
    let home = std::env::var("HOME").unwrap_or_default();
    let asked = std::path::Path::new(&home).join("papers/report.pdf");
    assert_eq!(app.commands, [Command::Attach { tab: 1, paths: vec![asked], then_send: false }]);
    app.commands.clear();
    app.on_event(AppEvent::Attached { tab: 1, attachments: vec![pdf()], errors: Vec::new(), then_send: false });
    let pending = text_of(&screen(&mut app, 80, 16));
    assert!(pending.contains("prompt · 📎 report.pdf · 2.1 MiB · /attach clear"), "{pending}");

    enter(&mut app, "summarize it");
    match app.commands.as_slice() {
        [Command::Send { tab: 1, turn: 1, prompt, branch: Branch::Continue, attachments }] => {
            assert_eq!(prompt, "summarize it");
            assert_eq!(attachments, &vec![pdf()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(app.tab().pending.is_empty(), "sent with this prompt only");
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("It reports growth.".into()) });
    app.on_event(AppEvent::TurnDone {
        turn: 1,
        report: Box::new(TurnReport {
            conversation_id: Some(1),
            prompt_id: Some(1),
            answer_id: Some(2),
            status: MessageStatus::Complete,
            text: "It reports growth.".into(),
            outcome: Outcome::Complete,
            cached: false,
            usage: None,
            cost: Default::default(),
            save_error: None,
            answered_by: None,
            tool_calls: Vec::new(),
            thoughts: String::new(),
            grounding: None,
        }),
    });
    insta::assert_snapshot!(screen(&mut app, 60, 14).backend());
}

#[test]
fn attachments_can_be_listed_and_removed_before_sending() {
    let mut app = App::new("m", false);
    app.on_event(AppEvent::Attached { tab: 1, attachments: vec![pdf()], errors: Vec::new(), then_send: false });
    enter(&mut app, "/attach");
    assert!(app.flash().unwrap().contains("Attached to the next prompt: 📎 report.pdf · 2.1 MiB"), "{:?}", app.flash());
    enter(&mut app, "/attach clear");
    assert!(app.tab().pending.is_empty());
    assert_eq!(app.flash(), Some("The attachment was removed."));
    enter(&mut app, "plain question");
    assert!(matches!(&app.commands[..], [Command::Send { attachments, .. }] if attachments.is_empty()));
}

#[test]
fn an_at_path_of_an_existing_file_is_read_first_and_anything_else_is_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "remember the milk").unwrap();
    let mut app = App::new("m", false);
    enter(&mut app, "mail bob@example.com and @alice");
    assert!(matches!(&app.commands[..], [Command::Send { attachments, .. }] if attachments.is_empty()));
    app.commands.clear();
    app.on_event(AppEvent::TurnDone {
        turn: 1,
        report: Box::new(TurnReport {
            conversation_id: None,
            prompt_id: None,
            answer_id: None,
            status: MessageStatus::Complete,
            text: "ok".into(),
            outcome: Outcome::Complete,
            cached: false,
            usage: None,
            cost: Default::default(),
            save_error: None,
            answered_by: None,
            tool_calls: Vec::new(),
            thoughts: String::new(),
            grounding: None,
        }),
    });

    enter(&mut app, &format!("summarize @{}", file.display()));
    assert_eq!(app.commands, [Command::Attach { tab: 1, paths: vec![file.clone()], then_send: true }]);
    assert_eq!(app.tab().input_text(), format!("summarize @{}", file.display()), "kept until it is sent");
    app.commands.clear();
    let mut read = geminal::attach::read_path(&file).unwrap();
    read.path = Some(file.clone());
    app.on_event(AppEvent::Attached { tab: 1, attachments: vec![read.clone()], errors: Vec::new(), then_send: true });
    match &app.commands[..] {
        [Command::Send { prompt, attachments, .. }] => {
            assert_eq!(prompt, &format!("summarize @{}", file.display()));
            assert_eq!(attachments, &vec![read]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_that_cannot_be_attached_is_said_and_nothing_is_sent() {
    let mut app = App::new("m", false);
    let error = "Cannot attach /tmp/x.zip: it holds ZIP data (application/zip); geminal attaches text.".to_owned();
    app.on_event(AppEvent::Attached { tab: 1, attachments: Vec::new(), errors: vec![error.clone()], then_send: true });
    assert_eq!(app.flash(), Some(error.as_str()));
    assert!(app.commands.is_empty());
}

#[test]
fn a_reopened_conversation_shows_what_its_prompts_had_attached() {
    let mut app = App::new("m", false);
    let info = pdf().info;
    let message = |id, role, text: &str, attachments| StoredMessage {
        id,
        conversation_id: 3,
        role,
        text: text.into(),
        model: None,
        status: MessageStatus::Complete,
        error: None,
        prompt_tokens: None,
        output_tokens: None,
        thought_tokens: None,
        thoughts: None,
        grounding: None,
        cached: false,
        created_at: 0,
        parent_id: None,
        alternatives: Default::default(),
        attachments,
        cost: Default::default(),
    };
    app.on_event(AppEvent::Opened {
        id: 3,
        tool_calls: Vec::new(),
        title: "report".into(),
        model: "m".into(),
        system: None,
        settings: None,
        messages: vec![
            message(1, Role::User, "summarize it", vec![info]),
            message(2, Role::Model, "Growth.", Vec::new()),
        ],
    });
    let shown = text_of(&screen(&mut app, 60, 14));
    assert!(shown.contains("📎 report.pdf · 2.1 MiB"), "{shown}");
}
