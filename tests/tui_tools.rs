//! Tool turns in the full-screen interface, drawn on a test backend: call and result cells
//! folded and unfolded, the approval line with parallel calls (at 80×24 and narrow), the tools
//! in the status bar, hostile arguments and results escaped on screen, on the terminal's wire and
//! in a copy, and a huge result cut in its cell.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use geminal::chat::{Outcome, Shown, TurnReport};
use geminal::store::MessageStatus;
use geminal::tools::{Approval, PendingCall, ToolFailure, ToolOutput, ToolStep};
use geminal::tui::app::{App, AppEvent, Command};
use ratatui::Terminal;
use ratatui::backend::{CrosstermBackend, TestBackend};
use serde_json::{Value, json};
use tokio::sync::oneshot;

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_terminal(key(KeyCode::Char(c)));
    }
}

fn report(text: &str) -> Box<TurnReport> {
    Box::new(TurnReport {
        conversation_id: Some(1),
        prompt_id: Some(1),
        answer_id: Some(2),
        status: MessageStatus::Complete,
        text: text.into(),
        outcome: Outcome::Complete,
        cached: false,
        usage: None,
        cost: Default::default(),
        thoughts: String::new(),
        grounding: None,
        save_error: None,
        answered_by: None,
        tool_calls: Vec::new(),
    })
}

/// Sends `prompt` in the active tab; its turn.
fn send(app: &mut App, prompt: &str) -> u64 {
    type_text(app, prompt);
    app.on_terminal(key(KeyCode::Enter));
    app.commands.clear();
    app.tab().turn.unwrap()
}

fn step(app: &mut App, turn: u64, step: ToolStep) {
    app.on_event(AppEvent::Turn { turn, shown: Shown::Tool(step) });
}

fn called(id: &str, server: &str, tool: &str, arguments: Value) -> ToolStep {
    ToolStep::Called { id: id.into(), server: server.into(), tool: tool.into(), arguments }
}

fn ok(id: &str, content: Value) -> ToolStep {
    ToolStep::Returned {
        id: id.into(),
        result: Ok(ToolOutput { content, media: Vec::new(), is_error: false, truncated: false }),
    }
}

fn screen(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    geminal::tui::draw(&mut terminal, app).unwrap();
    terminal
}

fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height).map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect()).collect()
}

/// A finished turn that listed a directory (ok) and asked a server that had stopped.
fn a_tool_turn() -> App {
    let mut app = App::new("gemini-2.5-flash", false);
    let turn = send(&mut app, "what notes do I have?");
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Let me look.".into()) });
    step(&mut app, turn, called("c1", "fs", "list_directory", json!({"path": "/home/me/notes"})));
    step(&mut app, turn, called("c2", "time", "get_current_time", json!({"timezone": "UTC"})));
    step(&mut app, turn, ok("c1", json!({"text": "[FILE] birds.md\n[FILE] robins.md\n[DIR] drafts"})));
    step(
        &mut app,
        turn,
        ToolStep::Returned {
            id: "c2".into(),
            result: Err(ToolFailure::ServerStopped { server: "time".into(), last_stderr: Some("panic: no tz".into()) }),
        },
    );
    step(&mut app, turn, ToolStep::Round { round: 1, max: 10 });
    let answer = "Let me look. You have two notes, birds.md and robins.md, and a drafts folder.";
    app.on_event(AppEvent::TurnDone { turn, report: report(answer) });
    app
}

#[test]
fn tool_cells_folded() {
    let mut app = a_tool_turn();
    insta::assert_snapshot!(screen(&mut app, 80, 24).backend());
}

#[test]
fn tool_cells_unfolded() {
    let mut app = a_tool_turn();
    // Select the messages, up to the first result, unfold it with Enter, then its call with t.
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    for _ in 0..3 {
        app.on_terminal(key(KeyCode::Up));
    }
    app.on_terminal(key(KeyCode::Enter));
    for _ in 0..2 {
        app.on_terminal(key(KeyCode::Up));
    }
    app.on_terminal(key(KeyCode::Char('t')));
    insta::assert_snapshot!(screen(&mut app, 80, 30).backend());
}

/// A turn whose model asked for two calls at once, waiting for the user's word (tools on).
fn waiting() -> (App, oneshot::Receiver<Vec<Approval>>) {
    let mut app = App::new("gemini-2.5-flash", false);
    app.tool_servers = vec!["fs".into(), "time".into()];
    type_text(&mut app, "/tools on");
    app.on_terminal(key(KeyCode::Enter));
    let turn = send(&mut app, "add milk to my todo list and tell me the time in Paris");
    let calls = vec![
        PendingCall {
            id: "c1".into(),
            server: "fs".into(),
            tool: "write_file".into(),
            arguments: json!({"path": "/home/me/notes/todo.md", "content": "- buy milk\n- call the vet about the cat's vaccination appointment next week"}),
        },
        PendingCall {
            id: "c2".into(),
            server: "time".into(),
            tool: "get_current_time".into(),
            arguments: json!({"timezone": "Europe/Paris"}),
        },
    ];
    for c in &calls {
        step(&mut app, turn, called(&c.id, &c.server, &c.tool, c.arguments.clone()));
    }
    let (reply, answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn, conversation_id: 1, calls, reply });
    (app, answer)
}

#[test]
fn the_approval_line_with_two_parallel_calls() {
    let (mut app, _answer) = waiting();
    let terminal = screen(&mut app, 80, 24);
    let shown = rows(&terminal);
    assert!(shown.iter().any(|r| r.contains("tools: fs, time")), "the status bar says the tools in use");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn the_approval_line_on_a_narrow_screen() {
    let (mut app, _answer) = waiting();
    let terminal = screen(&mut app, 44, 24);
    let shown = rows(&terminal).join("\n");
    // Every key stays in sight, whole.
    for part in ["y run", "n refuse", "a always", "Esc stop the turn"] {
        assert!(shown.contains(part), "{part} missing:\n{shown}");
    }
    insta::assert_snapshot!(terminal.backend());
}

fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{feff}' | '\u{61c}')
}

#[derive(Clone, Default)]
struct SharedBytes(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every escape sequence in `bytes` is a CSI of the kinds the app itself writes; no C1.
fn assert_only_own_sequences(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!text.contains('\u{9b}') && !text.contains('\u{9d}') && !text.contains('\u{90}'), "8-bit C1 written");
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0x1b {
            assert!(bytes[i] >= 0x20 || bytes[i] == b'\n' || bytes[i] == b'\r', "raw control byte {:#x}", bytes[i]);
            i += 1;
            continue;
        }
        assert_eq!(bytes.get(i + 1), Some(&b'['), "an ESC that starts no CSI at {i}");
        let mut j = i + 2;
        while j < bytes.len() && !(0x40..=0x7e).contains(&bytes[j]) {
            j += 1;
        }
        let params = String::from_utf8_lossy(&bytes[i + 2..j]).into_owned();
        let last = bytes.get(j).copied().unwrap_or(0) as char;
        let own = matches!(last, 'm' | 'H' | 'J' | 'K') || (params == "?25" && matches!(last, 'l' | 'h'));
        assert!(own, "CSI {params}{last} is not one of the app's own");
        i = j + 1;
    }
}

fn assert_safe(app: &mut App, width: u16, height: u16) -> String {
    let terminal = screen(app, width, height);
    for cell in terminal.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(forbidden), "a cell holds {:?}", cell.symbol());
    }
    let bytes = SharedBytes::default();
    let mut real = Terminal::new(CrosstermBackend::new(bytes.clone())).unwrap();
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    geminal::tui::prepare(app, area);
    real.resize(area).unwrap();
    real.draw(|f| geminal::tui::view::draw(f, app)).unwrap();
    assert_only_own_sequences(&bytes.0.lock().unwrap());
    rows(&terminal).join("\n")
}

#[test]
fn hostile_arguments_and_results_are_escaped_on_screen_on_the_wire_and_in_a_copy() {
    let hostile = geminal::gemini::fake::hostile_answer();
    let hostile_name = "rm\u{1b}[2J\u{202e}fdp";
    let mut app = App::new("gemini-2.5-flash", false);
    let turn = send(&mut app, "read it");
    step(
        &mut app,
        turn,
        called("c1", "fs\u{9b}31m", hostile_name, json!({"path": hostile, "n": "\u{85}\u{9d}0;x\u{7}"})),
    );
    step(&mut app, turn, ok("c1", json!({"text": hostile})));
    let calls = vec![PendingCall {
        id: "c2".into(),
        server: "fs\u{9b}31m".into(),
        tool: hostile_name.into(),
        arguments: json!({"path": hostile}),
    }];
    let (reply, _answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn, conversation_id: 1, calls, reply });
    let shown = assert_safe(&mut app, 100, 40);
    assert!(shown.contains("\\u001b]52;c;aGVsbG8="), "the arguments show the escape as JSON does:\n{shown}");
    assert!(shown.contains("<U+202E>"), "a bidi override is shown, not obeyed:\n{shown}");
    // Unfolded, every line of them.
    app.on_event(AppEvent::TurnDone { turn, report: report("Done.") });
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Enter));
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Enter));
    let shown = assert_safe(&mut app, 100, 60);
    assert!(shown.contains("[0:␛]52;c;aGVsbG8=␇]"), "the result shows the escape as a stand-in:\n{shown}");
    // A copy of either cell holds no control character.
    for _ in 0..2 {
        app.on_terminal(key(KeyCode::Char('y')));
        let Some(Command::Copy { text }) = app.commands.last() else { panic!("copied") };
        assert!(!text.chars().any(forbidden), "{text:?}");
        assert!(text.contains("aGVsbG8="));
        app.on_terminal(key(KeyCode::Down));
    }
}

#[test]
fn a_huge_result_is_cut_in_its_cell_with_its_size() {
    let mut app = App::new("gemini-2.5-flash", false);
    let turn = send(&mut app, "read the log");
    let line = "2026-12-07 12:00:00 INFO everything is fine\n";
    let huge = line.repeat(2 * 1024 * 1024 / line.len());
    step(&mut app, turn, called("c1", "fs", "read_text_file", json!({"path": "/var/log/big.log"})));
    step(&mut app, turn, ok("c1", json!({"text": huge})));
    app.on_event(AppEvent::TurnDone { turn, report: report("It is fine.") });
    let result = &app.tab().messages[2];
    assert!(result.text.len() < 9 * 1024, "the cell keeps a bounded part: {} bytes", result.text.len());
    let folded = rows(&screen(&mut app, 100, 20)).join("\n");
    assert!(folded.contains("fs · read_text_file · ok · 2.0 MiB"), "{folded}");
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Enter));
    geminal::tui::prepare(&mut app, ratatui::layout::Rect::new(0, 0, 100, 20));
    let lines = app.tab().total_lines();
    assert!(lines < 300, "{lines} lines for a 2 MiB result");
    app.on_terminal(key(KeyCode::End));
    let end = rows(&screen(&mut app, 100, 300)).join("\n");
    assert!(end.contains("… cut here: the first"), "{end}");
    assert!(end.contains("of 2.0 MiB are shown"), "{end}");
}

/// A tab whose role names tools (and the user chose none) offers the role's, and its status bar
/// says so; `/tools off` then wins over the role.
#[test]
fn the_status_bar_shows_the_roles_tools_until_tools_are_chosen() {
    let mut app = App::new("gemini-2.5-flash", false);
    app.tool_servers = vec!["fs".into(), "time".into()];
    app.roles = vec![geminal::chat::NamedRole {
        name: "clerk".into(),
        prompt: Some("You keep my notes.".into()),
        model: None,
        settings: Default::default(),
        fallback: Vec::new(),
        tools: Some(geminal::tools::Selection::Servers(vec!["fs".into()])),
        source: geminal::chat::RoleSource::File("roles/clerk.md".into()),
    }];
    let bar = |app: &mut App| rows(&screen(app, 80, 12)).join("\n");
    assert!(!bar(&mut app).contains("tools:"), "no role, no tools");
    type_text(&mut app, "/role clerk");
    app.on_terminal(key(KeyCode::Enter));
    assert!(bar(&mut app).contains("tools: fs"), "the role's tools:\n{}", bar(&mut app));
    type_text(&mut app, "/tools off");
    app.on_terminal(key(KeyCode::Enter));
    assert!(!bar(&mut app).contains("tools:"), "chosen off, over the role:\n{}", bar(&mut app));
}
