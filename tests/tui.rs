//! The full-screen interface drawn on a test backend: snapshots of the main screens, and the
//! hostile corpus through the real render path (no cell holds a control character; the bytes a
//! real terminal would receive carry no OSC/DCS/APC/PM/SOS and no CSI but the app's own).

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use geminal::chat::{Outcome, Shown, TurnReport};
use geminal::gemini::ApiError;
use geminal::store::{MessageStatus, StoredMessage};
use geminal::tui::app::{App, AppEvent, Command};
use geminal::tui::history::HistoryRow;
use geminal::tui::keys::{Action, Focus};
use ratatui::Terminal;
use ratatui::backend::{CrosstermBackend, TestBackend};

const ANSWER: &str = "## Ownership in Rust\n\nEvery value has **one owner**; borrowing lends it *without* moving it.\n\n```rust\nfn main() {\n    let s = String::from(\"hi\");\n    let r = &s;\n    println!(\"{r}\");\n}\n```\n\n| rule | meaning |\n|---|---|\n| one owner | freed when the owner goes |\n| `&T` | many readers |\n\n- moves transfer ownership\n- borrows do not\n";

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_terminal(key(KeyCode::Char(c)));
    }
}

fn report(text: &str, outcome: Outcome) -> Box<TurnReport> {
    let status = match &outcome {
        Outcome::Complete => MessageStatus::Complete,
        Outcome::Cancelled => MessageStatus::Interrupted,
        Outcome::Failed(_) if !text.is_empty() => MessageStatus::Interrupted,
        Outcome::Failed(_) => MessageStatus::Error,
    };
    Box::new(TurnReport {
        conversation_id: Some(1),
        prompt_id: None,
        answer_id: None,
        status,
        text: text.into(),
        outcome,
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

/// Sends `prompt` in the active tab and streams `answer` into it in three pieces.
fn ask(app: &mut App, prompt: &str, answer: &str, finish: bool) {
    type_text(app, prompt);
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.commands.clear();
    let chars: Vec<char> = answer.chars().collect();
    for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
        app.on_event(AppEvent::Turn { turn, shown: Shown::Text(piece.iter().collect()) });
    }
    if finish {
        app.on_event(AppEvent::TurnDone { turn, report: report(answer, Outcome::Complete) });
    }
}

fn screen(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    geminal::tui::draw(&mut terminal, app).unwrap();
    terminal
}

#[test]
fn empty_tab() {
    let mut app = App::new("gemini-flash-latest", true);
    insta::assert_snapshot!(screen(&mut app, 80, 20).backend());
}

#[test]
fn a_streamed_markdown_answer_with_code_and_a_table() {
    let mut app = App::new("gemini-flash-latest", false);
    ask(&mut app, "explain rust ownership", ANSWER, true);
    insta::assert_snapshot!(screen(&mut app, 80, 40).backend());
}

#[test]
fn several_tabs_with_status_marks() {
    let mut app = App::new("gemini-flash-latest", false);
    ask(&mut app, "first question", "The first answer is done.", true);
    app.on_action(Action::NewTab);
    ask(&mut app, "second question", "Still writing this one", false);
    app.on_action(Action::NewTab);
    ask(&mut app, "third question", "", false);
    let third = app.tab().id;
    app.on_event(AppEvent::TurnDone {
        turn: third,
        report: report("", Outcome::Failed(ApiError::RateLimited { retry_after: None })),
    });
    app.on_action(Action::NewTab);
    ask(&mut app, "fourth question", "Writing", false);
    // A background tab that finished while we were away is marked unread.
    let second = app.tabs[1].id;
    app.on_event(AppEvent::TurnDone {
        turn: second,
        report: report("Still writing this one, now done.", Outcome::Complete),
    });
    app.on_action(Action::GoToTab(0));
    insta::assert_snapshot!(screen(&mut app, 90, 16).backend());
}

/// Thirty tabs at 80 columns: the bar scrolls to keep the active tab in sight, and the overflow
/// markers count the hidden tabs and carry the most urgent mark among them.
#[test]
fn thirty_tabs_scroll_the_tab_bar() {
    let mut app = App::new("gemini-flash-latest", false);
    for i in 1..=30 {
        if i > 1 {
            app.on_action(Action::NewTab);
        }
        ask(&mut app, &format!("question {i}"), "Answered.", true);
    }
    // Tab 3 failed and tab 27 is still writing, both out of sight.
    app.tabs[2].error = Some("failed".into());
    app.tabs[26].streaming = true;
    app.on_action(Action::GoToTab(0));
    for _ in 0..14 {
        app.on_action(Action::NextTab);
    }
    assert_eq!(app.active, 14);
    let terminal = screen(&mut app, 80, 12);
    let bar: String = (0..80).map(|x| terminal.backend().buffer()[(x, 0)].symbol().to_owned()).collect();
    assert!(bar.contains(" 15 question 15 "), "the active tab is shown: {bar:?}");
    let left = bar.split_whitespace().next().unwrap();
    assert!(left.starts_with('‹') && left.ends_with('!'), "hidden on the left, one with an error: {bar:?}");
    assert!(bar.trim_end().ends_with('›') && bar.contains("●"), "hidden on the right, one writing: {bar:?}");
    let hidden_left: usize = left.trim_start_matches('‹').trim_end_matches('!').parse().unwrap();
    let right = bar.split_whitespace().last().unwrap();
    let hidden_right: usize = right.trim_start_matches('●').trim_end_matches('›').parse().unwrap();
    let shown = bar.matches(" question ").count();
    assert_eq!(hidden_left + shown + hidden_right, 30, "every tab is shown or counted: {bar:?}");
    insta::assert_snapshot!(terminal.backend());

    // Clicks: on a tab shown, and on each overflow marker (the nearest hidden tab).
    let click = |app: &mut App, column: u16| {
        app.on_terminal(Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row: 0,
            modifiers: KeyModifiers::NONE,
        }))
    };
    let column = bar.chars().collect::<Vec<_>>().windows(3).position(|w| w == ['1', '6', ' ']).unwrap() as u16;
    click(&mut app, column);
    assert_eq!(app.active, 15, "tab 16 clicked");
    let numbers_shown = |app: &mut App| -> Vec<usize> {
        let t = screen(app, 80, 12);
        let bar: String = (0..80).map(|x| t.backend().buffer()[(x, 0)].symbol().to_owned()).collect();
        bar.split(" question ").filter_map(|part| part.split_whitespace().last()?.parse().ok()).collect()
    };
    let shown = numbers_shown(&mut app);
    click(&mut app, 0);
    assert_eq!(app.active + 1, shown[0] - 1, "the left marker: the hidden tab just before those shown {shown:?}");
    let shown = numbers_shown(&mut app);
    click(&mut app, 79);
    assert_eq!(app.active + 1, shown.last().unwrap() + 1, "the right marker: the tab just after {shown:?}");
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::F(4), KeyModifiers::NONE)));
    assert!(!app.mouse_capture && app.commands.contains(&Command::MouseCapture(false)), "F4 gives the mouse back");
    app.on_action(Action::GoToTab(14));

    // At either end, only one marker.
    app.on_action(Action::GoToTab(0));
    let first = screen(&mut app, 80, 12);
    let bar: String = (0..80).map(|x| first.backend().buffer()[(x, 0)].symbol().to_owned()).collect();
    assert!(bar.starts_with(" 1 question 1 ") && !bar.contains('‹') && bar.trim_end().ends_with('›'), "{bar:?}");
    app.on_action(Action::PrevTab);
    assert_eq!(app.active, 29);
    let last = screen(&mut app, 80, 12);
    let bar: String = (0..80).map(|x| last.backend().buffer()[(x, 0)].symbol().to_owned()).collect();
    assert!(bar.contains(" 30 question 30 ") && bar.starts_with('‹') && !bar.contains('›'), "{bar:?}");
}

#[test]
fn slash_command_completion_as_you_type() {
    let mut app = App::new("gemini-flash-latest", false);
    type_text(&mut app, "/");
    insta::assert_snapshot!("slash_all", screen(&mut app, 80, 12).backend());
    type_text(&mut app, "re");
    insta::assert_snapshot!("slash_one", screen(&mut app, 80, 12).backend());
}

#[test]
fn found_text_is_highlighted_in_the_conversation() {
    use ratatui::style::Modifier;
    let mut app = App::new("gemini-flash-latest", false);
    ask(&mut app, "explain rust ownership", ANSWER, true);
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)));
    type_text(&mut app, "OWNER");
    let terminal = screen(&mut app, 80, 40);
    let buffer = terminal.backend().buffer();
    let mut marked = Vec::new();
    for y in 0..40 {
        let row: String = (0..80)
            .filter(|&x| buffer[(x, y)].modifier.contains(Modifier::REVERSED) && y > 0 && y < 36)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        if !row.is_empty() {
            marked.push(row);
        }
    }
    // The selected message's header is shown reversed too: it is the match chosen, not a match.
    marked.retain(|r| r != "gemini-flash-latest");
    assert!(marked.iter().all(|r| r.to_lowercase().replace("owner", "").trim().is_empty()), "{marked:?}");
    assert!(marked.len() >= 3, "every \"owner\" on screen is marked (any case): {marked:?}");
    let rows: Vec<String> = (0..40).map(|y| (0..80).map(|x| buffer[(x, y)].symbol().to_owned()).collect()).collect();
    assert!(rows.iter().any(|r| r.starts_with("find: OWNER▏ · message 2 of 2 with it")), "the find bar: {rows:#?}");
}

#[test]
fn an_error_in_a_tab() {
    let mut app = App::new("gemini-flash-latest", false);
    type_text(&mut app, "hello");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Partial answ".into()) });
    app.on_event(AppEvent::TurnDone {
        turn,
        report: report(
            "Partial answ",
            Outcome::Failed(ApiError::Truncated { detail: "the connection was cut mid-answer".into() }),
        ),
    });
    insta::assert_snapshot!(screen(&mut app, 80, 16).backend());
}

#[test]
fn the_help_overlay() {
    let mut app = App::new("gemini-flash-latest", false);
    app.on_terminal(key(KeyCode::F(1)));
    insta::assert_snapshot!(screen(&mut app, 90, 24).backend());
}

/// At 80 columns every word of the help is on the screen: what a key does wraps under its column
/// instead of being cut ("Enter / ↑ earlier, ↓ la"). The status bar drops a whole part rather
/// than cut one ("0 runn…"), and the model picker's title is whole.
#[test]
fn at_80_columns_the_help_wraps_and_nothing_is_cut() {
    let mut app = App::new("gemini-flash-latest", false);
    app.on_terminal(key(KeyCode::F(1)));
    let shown = screen(&mut app, 80, 70).backend().to_string();
    let words: std::collections::HashSet<&str> =
        shown.split(|c: char| c.is_whitespace() || c == '"' || c == '│').filter(|w| !w.is_empty()).collect();
    let keys = geminal::tui::keys::HELP.iter().map(|(k, w)| (k.to_string(), w.to_string()));
    let commands = geminal::commands::COMMANDS.iter().map(|c| (c.name.to_owned(), format!("{} {}", c.args, c.what)));
    for (key, what) in keys.chain(commands) {
        for word in key.split_whitespace().chain(what.split_whitespace()) {
            assert!(words.contains(word), "{word:?} of {key:?} is cut:\n{shown}");
        }
    }
    app.on_terminal(key(KeyCode::Esc));
    for width in [40, 50, 60, 80] {
        let status = rows(&screen(&mut app, width, 12)).into_iter().rev().find(|r| r.contains("F1 help")).unwrap();
        assert!(!status.contains('…'), "a part cut at {width} columns: {status:?}");
    }
    app.on_action(Action::OpenModels);
    app.on_event(AppEvent::Models(Ok(vec!["gemini-2.5-flash".into()])));
    let shown = screen(&mut app, 120, 20).backend().to_string();
    assert!(shown.contains(" model for this tab · type to filter · Enter · Esc "), "{shown}");
}

/// On a short screen the help scrolls, so the last key and every slash command can be read.
#[test]
fn the_help_scrolls_to_its_end_on_a_short_screen() {
    let mut app = App::new("gemini-flash-latest", false);
    app.on_terminal(key(KeyCode::F(1)));
    app.on_terminal(key(KeyCode::End));
    let shown = screen(&mut app, 90, 24).backend().to_string();
    assert!(shown.contains("Ctrl-C / Ctrl-Q") && shown.contains("/clear"), "{shown}");
    insta::assert_snapshot!(shown);
    // Up from the end moves at once (the scroll was clamped to the end, not left past it).
    app.on_terminal(key(KeyCode::Up));
    let moved = screen(&mut app, 90, 24).backend().to_string();
    assert_ne!(moved, shown);
}

#[test]
fn the_history_browser_with_a_search() {
    let mut app = App::new("gemini-flash-latest", false);
    app.on_action(Action::OpenHistory);
    type_text(&mut app, "migrat*");
    let generation = app.history.generation;
    let rows = vec![
        HistoryRow {
            conversation_id: 12,
            title: "why do birds migrate?".into(),
            updated_at: 0,
            snippet: Some("why do birds \u{E000}migrate\u{E001} every autumn?".into()),
            messages: None,
        },
        HistoryRow {
            conversation_id: 7,
            title: "arctic terns".into(),
            updated_at: 0,
            snippet: Some("the longest \u{E000}migration\u{E001} of any bird".into()),
            messages: None,
        },
    ];
    app.on_event(AppEvent::SearchResults { generation, rows: Ok(rows) });
    let message = |id, role, text: &str| StoredMessage {
        id,
        conversation_id: 12,
        role,
        text: text.into(),
        model: None,
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
    };
    app.on_event(AppEvent::Preview {
        id: 12,
        messages: vec![
            message(1, geminal::chat::Role::User, "why do birds migrate every autumn?"),
            message(2, geminal::chat::Role::Model, "Birds migrate to follow food and daylight."),
        ],
    });
    insta::assert_snapshot!(screen(&mut app, 100, 20).backend());
}

#[test]
fn a_tiny_terminal_gets_a_short_message() {
    let mut app = App::new("gemini-flash-latest", false);
    insta::assert_snapshot!(screen(&mut app, 30, 8).backend());
}

/// What a crossterm backend writes, kept for inspection.
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

fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{feff}' | '\u{61c}')
}

/// Checks terminal bytes: escape sequences only of the kinds the app itself writes.
fn assert_only_own_sequences(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.contains('\u{9b}') && !text.contains('\u{9d}') && !text.contains('\u{90}'),
        "8-bit C1 control written"
    );
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0x1b {
            assert!(
                bytes[i] >= 0x20 || bytes[i] == b'\n' || bytes[i] == b'\r',
                "raw control byte {:#x} at {i}",
                bytes[i]
            );
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        assert_eq!(next, b'[', "ESC {:?} (OSC/DCS/APC/PM/SOS or other) at {i}", next as char);
        let mut j = i + 2;
        while j < bytes.len() && !(0x40..=0x7e).contains(&bytes[j]) {
            j += 1;
        }
        let params = String::from_utf8_lossy(&bytes[i + 2..j]).into_owned();
        let final_byte = bytes.get(j).copied().unwrap_or(0) as char;
        let allowed =
            matches!(final_byte, 'm' | 'H' | 'J' | 'K') || (params == "?25" && matches!(final_byte, 'l' | 'h'));
        assert!(allowed, "CSI {params}{final_byte} is not one of the app's own");
        i = j + 1;
    }
}

#[test]
fn hostile_text_never_reaches_a_cell_or_the_terminal() {
    let hostile = geminal::gemini::fake::hostile_answer();
    let mut app = App::new("gemini-flash-latest", false);
    // In the answer, in a code block, in a table, in the prompt, in the title and in an error.
    let answer =
        format!("{hostile}\n```\n{hostile}\n```\n| a | b |\n|---|---|\n| {} | x |\n", hostile.replace('\n', " "));
    ask(&mut app, &format!("tell me {}", geminal::gemini::fake::HOSTILE_PAYLOADS[0]), &answer, false);
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::TurnDone {
        turn,
        report: report(&answer, Outcome::Failed(ApiError::BadRequest { detail: hostile.replace('\n', " ") })),
    });
    let terminal = screen(&mut app, 100, 60);
    for cell in terminal.backend().buffer().content() {
        assert!(!cell.symbol().chars().any(forbidden), "cell holds {:?}", cell.symbol());
    }
    let bytes = SharedBytes::default();
    let mut real = Terminal::new(CrosstermBackend::new(bytes.clone())).unwrap();
    geminal::tui::prepare(&mut app, ratatui::layout::Rect::new(0, 0, 100, 60));
    real.resize(ratatui::layout::Rect::new(0, 0, 100, 60)).unwrap();
    real.draw(|f| geminal::tui::view::draw(f, &app)).unwrap();
    let written = bytes.0.lock().unwrap().clone();
    assert!(written.len() > 1000, "the frame was written");
    assert_only_own_sequences(&written);
}

#[test]
fn streaming_follows_the_bottom_only_when_the_user_is_there() {
    let mut app = App::new("m", false);
    let long: String = (0..80).map(|i| format!("line {i}\n\n")).collect();
    ask(&mut app, "long", &long, true);
    screen(&mut app, 60, 20);
    app.on_action(Action::ScrollUp(5));
    assert_eq!(app.tab().scroll_from_bottom, 5);
    // New text while scrolled up: the view stays put.
    type_text(&mut app, "more");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("new text".into()) });
    assert_eq!(app.tab().scroll_from_bottom, 0, "sending returns to the bottom");
    screen(&mut app, 60, 20);
    app.on_action(Action::ScrollUp(4));
    let before = app.tab().visible_lines(10);
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("\n\nmany\n\nnew\n\nlines".into()) });
    screen(&mut app, 60, 20);
    assert_eq!(app.tab().visible_lines(10), before, "the view stays put while the answer grows below");
    app.on_action(Action::ScrollBottom);
    assert_eq!(app.tab().scroll_from_bottom, 0);
}

#[test]
fn wide_characters_never_break_the_layout() {
    let mut app = App::new("gemini-flash-latest", false);
    ask(
        &mut app,
        "世界で一番長い川は？🦀",
        "世界で一番長い川はナイル川です。👨‍👩‍👧 家族\n\n| 川 | 長さ |\n|---|---|\n| ナイル川 | 6650 km |\n\n```\n漢字のコード 🦀\n```\n",
        true,
    );
    app.on_action(Action::NewTab);
    type_text(&mut app, "中文输入");
    let terminal = screen(&mut app, 50, 24);
    let buffer = terminal.backend().buffer();
    // No wide character hangs over the right edge of a row.
    let mut rows = Vec::new();
    for y in 0..buffer.area.height {
        let (mut x, mut row) = (0, String::new());
        while x < buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            let w = unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
            assert!(x + w <= buffer.area.width, "row {y}: {symbol:?} at column {x} spills over the edge");
            row.push_str(symbol);
            x += w;
        }
        rows.push(row);
    }
    // The prompt box's right border is intact on its rows.
    let input_rows: Vec<&String> = rows.iter().filter(|r| r.starts_with('│')).collect();
    assert!(!input_rows.is_empty() && input_rows.iter().all(|r| r.ends_with('│')), "{rows:#?}");
    app.on_action(Action::GoToTab(0));
    insta::assert_snapshot!(screen(&mut app, 50, 24).backend());
}

// ---- Themes and NO_COLOR ----

use geminal::tui::theme::{Theme, ThemeName};
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// A conversation showing most styles: a streamed answer with a heading, inline code, a link, a
/// highlighted code block and a table; an error; a second tab streaming.
fn styled_app() -> App {
    let mut app = App::new("gemini-flash-latest", true);
    let answer = "## Heading\n\nSee `code` and [docs](https://example.com).\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    ask(&mut app, "first", answer, true);
    app.on_action(Action::NewTab);
    ask(&mut app, "second", "Partial", false);
    app.on_action(Action::GoToTab(0));
    app
}

/// The buffer as rows of text, each run of one style written `⟦fg bg modifiers⟧text`.
fn styled_dump(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut last = None;
        for x in 0..area.width {
            let cell = &buffer[(x, y)];
            let style = (cell.fg, cell.bg, cell.modifier);
            if last != Some(style) {
                let color = |c: Color| if c == Color::Reset { "-".to_owned() } else { c.to_string() };
                out.push_str(&format!("⟦{} {} {:?}⟧", color(cell.fg), color(cell.bg), cell.modifier));
                last = Some(style);
            }
            out.push_str(cell.symbol());
        }
        out.push('\n');
    }
    out
}

fn draw_in(theme: Theme, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut app = styled_app();
    app.theme = theme;
    screen(&mut app, width, height)
}

#[test]
fn no_color_leaves_no_colour_in_any_cell_but_keeps_attributes() {
    for name in [ThemeName::Dark, ThemeName::Light] {
        let terminal = draw_in(Theme::new(name, false), 60, 24);
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{name:?}: {cell:?}");
        }
        let modifiers = buffer.content().iter().fold(Modifier::empty(), |all, cell| all | cell.modifier);
        assert!(modifiers.contains(Modifier::BOLD | Modifier::REVERSED | Modifier::UNDERLINED), "{modifiers:?}");
    }
    let terminal = draw_in(Theme::new(ThemeName::Dark, false), 60, 24);
    insta::assert_snapshot!("no_color_styled", styled_dump(terminal.backend().buffer()));
}

fn luminance(color: Color) -> Option<f32> {
    let (r, g, b) = match color {
        Color::Rgb(r, g, b) => (r, g, b),
        Color::White | Color::Gray | Color::LightYellow | Color::LightCyan => return Some(0.85),
        Color::Yellow => return Some(0.8),
        Color::Black | Color::DarkGray | Color::Blue => return Some(0.1),
        Color::Indexed(i @ 232..=255) => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
        _ => return None,
    };
    Some((0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b)) / 255.0)
}

#[test]
fn text_is_readable_on_its_kind_of_terminal_in_both_themes() {
    for (name, readable) in
        [(ThemeName::Light, (|l: f32| l < 0.6) as fn(f32) -> bool), (ThemeName::Dark, |l: f32| l > 0.3)]
    {
        let terminal = draw_in(Theme::new(name, true), 60, 24);
        let buffer = terminal.backend().buffer();
        let mut coloured = 0;
        for cell in buffer.content() {
            // Text on the terminal's own background (cells with a background bring their own contrast).
            if cell.bg != Color::Reset || cell.symbol().trim().is_empty() {
                continue;
            }
            if let Some(l) = luminance(cell.fg) {
                coloured += 1;
                assert!(readable(l), "{name:?}: {:?} on the terminal's background: {cell:?}", cell.symbol());
            }
        }
        assert!(coloured > 0, "{name:?}: some text is coloured");
    }
}

#[test]
fn dark_and_light_theme_snapshots() {
    let dark = draw_in(Theme::new(ThemeName::Dark, true), 60, 24);
    insta::assert_snapshot!("dark_styled", styled_dump(dark.backend().buffer()));
    let light = draw_in(Theme::new(ThemeName::Light, true), 60, 24);
    insta::assert_snapshot!("light_styled", styled_dump(light.backend().buffer()));
}

#[test]
fn f3_switches_the_theme_and_redraws_rendered_messages() {
    let mut app = styled_app();
    app.theme = Theme::new(ThemeName::Dark, true);
    let heading = |terminal: &Terminal<TestBackend>| {
        let buffer = terminal.backend().buffer();
        let cell = buffer.content().iter().find(|c| c.symbol() == "H" && c.modifier.contains(Modifier::BOLD));
        cell.map(|c| c.fg)
    };
    let before = heading(&screen(&mut app, 60, 24));
    app.on_terminal(key(KeyCode::F(3)));
    assert_eq!(app.theme.name, ThemeName::Light);
    let after = heading(&screen(&mut app, 60, 24));
    assert_eq!(before, Some(Color::Cyan));
    assert_eq!(after, Theme::new(ThemeName::Light, true).accent.fg, "the cached answer was rendered again");
    app.on_terminal(key(KeyCode::F(3)));
    assert_eq!(app.theme.name, ThemeName::Dark);
}

#[test]
fn copied_code_is_the_message_text_even_when_shown_in_colour() {
    let mut app = App::new("gemini-flash-latest", false);
    app.theme = Theme::new(ThemeName::Dark, true);
    let code = "fn main() {\n\tlet s = \"hi\"; // greet\n}";
    ask(&mut app, "code please", &format!("Here:\n\n```rust\n{code}\n```\n"), true);
    let terminal = screen(&mut app, 60, 20);
    let coloured = terminal.backend().buffer().content().iter().filter(|c| matches!(c.fg, Color::Rgb(..))).count();
    assert!(coloured > 0, "the block is shown in colour");
    app.commands.clear();
    app.on_action(Action::CopyCode);
    assert_eq!(app.commands, [geminal::tui::app::Command::Copy { text: code.into() }], "tabs and text as written");
}

/// What a clipboard receives for each copy key on a hostile answer: Ctrl-Y, Alt-Y, and `y` and
/// `c` on a selected message, each copy handed to the real clipboard code (its OSC 52 way, the
/// bytes decoded back). No control character but `\n` and `\t`, no bidi control, `\r\n` as `\n`.
#[test]
fn hostile_text_reaches_no_clipboard_with_its_control_characters() {
    use base64::Engine as _;
    use geminal::tui::app::Command;
    let paste_escape = "echo safe\x1b[201~\rtouch ~/pwned\r# done";
    let hostile = geminal::gemini::fake::hostile_answer();
    let answer = format!("{hostile}\r\n```sh\n{paste_escape}\n```\n\u{85}nel \u{9b}1m\u{202e}cba\n");
    let mut app = App::new("gemini-flash-latest", false);
    ask(&mut app, "hi", &answer, true);
    let alt = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT));
    let ctrl = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    app.commands.clear();
    app.on_terminal(ctrl('y'));
    app.on_terminal(alt('y'));
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    app.on_terminal(key(KeyCode::Char('y')));
    app.on_terminal(key(KeyCode::Char('c')));
    let copies: Vec<String> = app
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Copy { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copies.len(), 4, "{:?}", app.commands);
    let mut clipboard = geminal::tui::clipboard::Clipboard::new(geminal::config::ClipboardMode::Terminal);
    for text in &copies {
        let mut written = Vec::new();
        clipboard.copy(text, &mut written).unwrap();
        let written = String::from_utf8(written).unwrap();
        let encoded = written.strip_prefix("\x1b]52;c;").and_then(|w| w.strip_suffix('\x07')).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let copied = String::from_utf8(bytes).unwrap();
        for c in copied.chars() {
            let bidi =
                matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            assert!(c == '\n' || c == '\t' || !(c.is_control() || bidi), "{c:?} reached the clipboard: {copied:?}");
        }
        assert!(!copied.contains("\x1b[201~"), "the paste end: {copied:?}");
    }
    // What was seen is what is pasted: the code block as the screen shows it.
    let code = "echo safe␛[201~␍touch ~/pwned␍# done";
    let mut written = Vec::new();
    clipboard.copy(&copies[1], &mut written).unwrap();
    let encoded = String::from_utf8(written).unwrap();
    let encoded = encoded.strip_prefix("\x1b]52;c;").and_then(|w| w.strip_suffix('\x07')).unwrap().to_owned();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap(), code.as_bytes());
}

// ---- Thoughts and generation settings ----

const THOUGHT: &str =
    "**Weighing the question**\n\nThe user asks about birds; migration follows food and daylight.\n\n";

/// A prompt whose answer is preceded by a thought summary; the turn is left running when
/// `answer` is empty.
fn ask_with_thoughts(app: &mut App, answer: &str) -> u64 {
    type_text(app, "why do birds migrate?");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::Turn { turn, shown: Shown::Thought(THOUGHT.into()) });
    if !answer.is_empty() {
        app.on_event(AppEvent::Turn { turn, shown: Shown::Text(answer.into()) });
        let mut done = report(answer, Outcome::Complete);
        done.thoughts = THOUGHT.into();
        done.usage = Some(geminal::gemini::UsageMetadata {
            prompt_token_count: 5,
            candidates_token_count: 7,
            thoughts_token_count: 30,
            ..Default::default()
        });
        app.on_event(AppEvent::TurnDone { turn, report: done });
    }
    turn
}

fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height).map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect()).collect()
}

#[test]
fn thinking_shows_while_only_thoughts_arrive() {
    let mut app = App::new("gemini-2.5-flash", false);
    ask_with_thoughts(&mut app, "");
    let terminal = screen(&mut app, 70, 14);
    assert!(rows(&terminal).iter().any(|r| r.trim() == "thinking…"), "{:#?}", rows(&terminal));
    insta::assert_snapshot!("thoughts_while_thinking", terminal.backend());
}

#[test]
fn thoughts_are_dimmed_above_the_answer_and_fold_with_t() {
    let mut app = App::new("gemini-2.5-flash", false);
    ask_with_thoughts(&mut app, "Birds follow **food**.");
    let terminal = screen(&mut app, 70, 16);
    let shown = rows(&terminal);
    let thought_row = shown.iter().position(|r| r.contains("migration follows food")).expect("the thought");
    let answer_row = shown.iter().position(|r| r.contains("Birds follow food.")).expect("the answer");
    assert!(thought_row < answer_row, "{shown:#?}");
    assert!(!shown[answer_row].contains("migration"), "never mixed into the answer");
    let buffer = terminal.backend().buffer();
    let x = shown[thought_row].find("migration").unwrap() as u16;
    assert!(buffer[(x, thought_row as u16)].modifier.contains(Modifier::DIM), "thoughts are dimmed");
    assert!(!buffer[(0, answer_row as u16)].modifier.contains(Modifier::DIM), "the answer is not");
    assert_eq!(app.tab().messages[1].text, "Birds follow **food**.");
    assert!(shown.last().unwrap().contains("42 tokens"), "thinking tokens count: {shown:?}");
    insta::assert_snapshot!("thoughts_unfolded", terminal.backend());

    // Select the answer and fold its thoughts.
    app.on_action(Action::SelectMessages);
    app.on_terminal(key(KeyCode::Char('t')));
    let terminal = screen(&mut app, 70, 16);
    assert!(!rows(&terminal).iter().any(|r| r.contains("migration follows food")), "folded");
    assert!(rows(&terminal).iter().any(|r| r.contains("▸ thoughts (2 lines; t shows them)")), "{:#?}", rows(&terminal));
    insta::assert_snapshot!("thoughts_folded", terminal.backend());
    app.on_terminal(key(KeyCode::Char('t')));
    assert!(rows(&screen(&mut app, 70, 16)).iter().any(|r| r.contains("migration follows food")), "unfolded again");
}

#[test]
fn thinking_and_settings_commands_are_checked_against_the_tabs_model() {
    use geminal::gemini::Thinking;
    let mut app = App::new("gemini-2.5-pro", false);
    let enter = |app: &mut App, line: &str| {
        type_text(app, line);
        app.on_terminal(key(KeyCode::Enter));
    };
    enter(&mut app, "/thinking off");
    assert!(app.flash().unwrap().contains("cannot turn thinking off"), "{:?}", app.flash());
    assert_eq!(app.tab().input_text(), "/thinking off", "a refused command stays to be corrected");
    assert_eq!(app.tab().settings.thinking, None);
    app.on_action(Action::ClearInput);
    enter(&mut app, "/thinking high");
    assert_eq!(app.tab().settings.thinking, Some(Thinking::High));
    let status = rows(&screen(&mut app, 80, 12)).into_iter().find(|r| r.contains(" running")).unwrap_or_default();
    assert!(status.contains("gemini-2.5-pro · thinking high · "), "the status bar says so: {status:?}");
    enter(&mut app, "/thoughts");
    assert_eq!(app.tab().settings.show_thoughts, Some(true));
    enter(&mut app, "/set temperature 0.3");
    enter(&mut app, "/set");
    assert_eq!(app.flash(), Some("This tab: thinking high · thoughts shown · temperature 0.3."));
    enter(&mut app, "/set temperature 7");
    assert!(app.flash().unwrap().contains("between 0 and 2"));
    assert_eq!(app.tab().settings.temperature, Some(0.3));
    assert!(app.commands.iter().all(|c| !matches!(c, Command::Send { .. })), "no command is sent to the model");
    // A new tab starts from the launch settings, not another tab's.
    app.on_action(Action::NewTab);
    assert_eq!(app.tab().settings, app.default_settings);
}

/// A reopened or restored conversation's saved settings are the tab's: the status bar shows
/// them, `/set` lists them, and a switch flips what is sent (here: search on → off at once).
#[test]
fn a_reopened_conversation_shows_and_switches_the_settings_it_was_saved_with() {
    use geminal::chat::Settings;
    use geminal::gemini::Thinking;
    let saved =
        Settings { search: Some(true), temperature: Some(0.2), thinking: Some(Thinking::Low), ..Settings::default() };
    let stored = |id, role, text: &str| StoredMessage {
        id,
        conversation_id: 4,
        role,
        text: text.into(),
        model: None,
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
    };
    let answer = StoredMessage {
        prompt_tokens: Some(1200),
        output_tokens: Some(300),
        thought_tokens: Some(34),
        ..stored(2, geminal::domain::Role::Model, "South.")
    };
    let messages = || vec![stored(1, geminal::domain::Role::User, "birds?"), answer.clone()];
    let enter = |app: &mut App, line: &str| {
        type_text(app, line);
        app.on_terminal(key(KeyCode::Enter));
    };
    let mut app = App::new("gemini-2.5-flash", false);
    app.on_event(AppEvent::Opened {
        id: 4,
        tool_calls: Vec::new(),
        title: "birds".into(),
        model: "gemini-2.5-flash".into(),
        system: None,
        settings: Some(saved.clone()),
        messages: messages(),
    });
    let (_, status) = status_row(&screen(&mut app, 100, 12));
    assert!(status.contains("gemini-2.5-flash · thinking low · search · "), "{status:?}");
    assert!(status.contains(" 1534 tokens"), "the tokens its answers took, not 0: {status:?}");
    enter(&mut app, "/set");
    assert_eq!(app.flash(), Some("This tab: thinking low · temperature 0.2 · search."));
    enter(&mut app, "/search");
    assert!(app.flash().unwrap().contains("off"), "the first /search turns the saved search off: {:?}", app.flash());
    let (_, status) = status_row(&screen(&mut app, 100, 12));
    assert!(!status.contains("search"), "{status:?}");
    assert_eq!(app.tab_settings(), Settings { search: Some(false), ..saved.clone() }, "what the next request carries");
    enter(&mut app, "/set temperature default");
    assert_eq!(app.tab_settings().temperature, Some(0.2), "the default of this conversation is what it was saved with");

    // Restored at start, the same.
    let mut app = App::new("gemini-2.5-flash", false);
    app.restore(vec![geminal::tui::app::Restored {
        conversation: Some(geminal::tui::app::RestoredConversation {
            id: 4,
            tool_calls: Vec::new(),
            title: "birds".into(),
            model: "gemini-2.5-flash".into(),
            system: None,
            role: None,
            settings: Some(saved.clone()),
            messages: messages(),
        }),
        draft: String::new(),
        active: true,
    }]);
    let (_, status) = status_row(&screen(&mut app, 100, 12));
    assert!(status.contains("thinking low · search · "), "{status:?}");
    enter(&mut app, "/thinking");
    assert!(app.flash().unwrap().starts_with("Thinking: low"), "{:?}", app.flash());
    // A new conversation in the tab starts from the defaults again, with no tokens.
    enter(&mut app, "/clear");
    assert_eq!(app.tab_settings(), Settings::default());
    let (_, status) = status_row(&screen(&mut app, 100, 12));
    assert!(status.contains(" 0 tokens"), "{status:?}");
}

/// Sources of an answer: two pages, the first sentence supported by the first, the second by
/// both; plus a title that tries to write to the terminal.
fn birds_grounding() -> geminal::grounding::Grounding {
    use geminal::grounding::{Citation, Grounding, Source};
    Grounding {
        sources: vec![
            Source { title: "en.wikipedia.org".into(), uri: "https://en.wikipedia.org/wiki/Bird_migration".into() },
            Source {
                title: "audubon\u{1b}]52;c;aGk=\u{7}.org".into(),
                uri: "https://www.audubon.org/migration".into(),
            },
        ],
        citations: vec![
            Citation { start: 0, end: 27, text: "Birds follow **food** south".into(), sources: vec![0] },
            Citation { start: 29, end: 51, text: "Days shorten in autumn".into(), sources: vec![0, 1] },
        ],
        queries: vec!["why do birds migrate".into()],
        ..Grounding::default()
    }
}

#[test]
fn an_answer_with_sources_shows_styled_markers_and_the_list_below() {
    let answer = "Birds follow **food** south. Days shorten in autumn.";
    let mut app = App::new("gemini-flash-latest", false);
    type_text(&mut app, "/search");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().settings.search, Some(true), "/search alone switches it on");
    type_text(&mut app, "why do birds migrate?");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text(answer.into()) });
    let mut done = report(answer, Outcome::Complete);
    done.grounding = Some(birds_grounding());
    app.on_event(AppEvent::TurnDone { turn, report: done });
    let terminal = screen(&mut app, 70, 16);
    let shown = rows(&terminal);
    let row = shown.iter().position(|r| r.contains("Birds follow food south.[1] Days shorten in autumn.[1][2]"));
    let row = row.unwrap_or_else(|| panic!("markers after the full stops: {shown:#?}"));
    let x = shown[row].find("[1]").unwrap() as u16;
    let buffer = terminal.backend().buffer();
    assert!(buffer[(x, row as u16)].modifier.contains(Modifier::BOLD), "the marker is styled");
    assert!(shown.iter().any(|r| r.contains("[2] audubon␛]52;c;aGk=␇.org — https://www.audubon.org/migration")));
    assert!(shown.last().unwrap().contains("· search ·"), "the status bar says search is on: {shown:?}");
    assert_eq!(app.tab().messages[1].text, answer, "the answer itself holds no marker");
    insta::assert_snapshot!("answer_with_sources", terminal.backend());
    // Reopened from the history, the stored sources are shown the same way.
    let mut reopened = App::new("gemini-flash-latest", false);
    let stored = |id, role, text: &str, grounding: Option<String>| StoredMessage {
        id,
        conversation_id: 1,
        role,
        text: text.into(),
        model: None,
        status: MessageStatus::Complete,
        error: None,
        prompt_tokens: None,
        output_tokens: None,
        thought_tokens: None,
        thoughts: None,
        grounding,
        cached: false,
        created_at: 0,
        parent_id: None,
        alternatives: Default::default(),
        attachments: Vec::new(),
        cost: Default::default(),
    };
    reopened.tab_mut().show(
        1,
        "birds".into(),
        "gemini-flash-latest".into(),
        None,
        vec![
            stored(1, geminal::chat::Role::User, "why do birds migrate?", None),
            stored(2, geminal::chat::Role::Model, answer, birds_grounding().to_stored()),
        ],
    );
    let again = rows(&screen(&mut reopened, 70, 16));
    assert!(
        again.iter().any(|r| r.contains("autumn.[1][2]")) && again.iter().any(|r| r.trim() == "Sources:"),
        "{again:#?}"
    );
}

/// The status bar row of a screen.
fn status_row(terminal: &Terminal<TestBackend>) -> (u16, String) {
    let rows = rows(terminal);
    let y = rows.iter().rposition(|r| r.contains(" running")).expect("a status bar");
    (y as u16, rows[y].clone())
}

#[test]
fn the_context_meter_shows_the_tokens_used_of_the_models_input_limit() {
    let mut app = App::new("gemini-2.5-flash", false);
    // Unknown limit (the model list not read yet): no meter.
    assert!(!status_row(&screen(&mut app, 90, 12)).1.contains("ctx"));
    app.on_event(AppEvent::InputLimits([("gemini-2.5-flash".to_owned(), 1_048_576)].into()));
    // Before the first answer: an estimate from the text (about four bytes a token).
    type_text(&mut app, &"x".repeat(40));
    app.on_terminal(key(KeyCode::Enter));
    app.commands.clear();
    assert!(
        status_row(&screen(&mut app, 90, 12)).1.contains(" · ctx 10/1M · "),
        "{:?}",
        status_row(&screen(&mut app, 90, 12))
    );
    let turn = app.tab().turn.unwrap();
    let mut done = report("ok", Outcome::Complete);
    done.usage = Some(geminal::gemini::UsageMetadata {
        prompt_token_count: 12_000,
        candidates_token_count: 400,
        thoughts_token_count: 900,
        ..Default::default()
    });
    app.on_event(AppEvent::TurnDone { turn, report: done.clone() });
    insta::assert_snapshot!(screen(&mut app, 90, 12).backend());

    // Near the limit the meter takes the warning colour; elsewhere the bar's own.
    let style_of = |app: &mut App, needle: &str| {
        let terminal = screen(app, 90, 12);
        let (y, row) = status_row(&terminal);
        let x = row.find(needle).unwrap() as u16;
        terminal.backend().buffer()[(x, y)].style()
    };
    let calm = style_of(&mut app, "ctx");
    assert_eq!(calm, style_of(&mut app, "tokens"), "far from the limit the meter looks like the bar");
    app.on_event(AppEvent::InputLimits([("gemini-2.5-flash".to_owned(), 14_000)].into()));
    assert!(status_row(&screen(&mut app, 90, 12)).1.contains(" · ctx 12k/14k · "));
    assert_ne!(style_of(&mut app, "ctx"), style_of(&mut app, "tokens"), "12.4k of 14k is near the limit");
    // A new conversation in the tab starts the meter again.
    type_text(&mut app, "/clear");
    app.on_terminal(key(KeyCode::Enter));
    assert!(status_row(&screen(&mut app, 90, 12)).1.contains(" · ctx 0/14k · "));
}

#[test]
fn role_sets_the_tabs_role_model_and_system_prompt_and_completes_names() {
    use geminal::chat::{NamedRole, RoleSource, Settings};
    let role = |name: &str, prompt: &str, model: Option<&str>| NamedRole {
        name: name.into(),
        prompt: Some(prompt.into()),
        model: model.map(str::to_owned),
        settings: Settings::default(),
        source: RoleSource::File(format!("roles/{name}.md").into()),
        fallback: Vec::new(),
        tools: None,
    };
    let mut app = App::new("gemini-2.5-flash", false);
    app.roles = vec![
        role("french", "Translate into French: {{input}}", None),
        role("reviewer", "You review code.", Some("gemini-2.5-pro")),
    ];
    app.default_system = Some("be brief".into());
    app.tab_mut().system = Some("be brief".into());
    let enter = |app: &mut App, line: &str| {
        type_text(app, line);
        app.on_terminal(key(KeyCode::Enter));
    };
    type_text(&mut app, "/role re");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/role reviewer");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().role.as_deref(), Some("reviewer"));
    assert_eq!((app.tab().model.as_str(), app.tab().system.as_deref()), ("gemini-2.5-pro", Some("You review code.")));
    assert!(status_row(&screen(&mut app, 90, 12)).1.starts_with("gemini-2.5-pro · role reviewer · "));
    enter(&mut app, "/role french");
    assert_eq!(app.tab().system, None, "a template gives no system prompt");
    enter(&mut app, "/role nobody");
    assert_eq!(
        app.flash(),
        Some("There is no role named nobody: the roles are french, reviewer (see `geminal roles`).")
    );
    assert_eq!(app.tab().role.as_deref(), Some("french"), "a refused role changes nothing");
    app.on_action(Action::ClearInput);
    // `/role` alone is a picker: type to filter, Enter takes the role shown.
    enter(&mut app, "/role");
    assert_eq!(app.focus, Focus::ModelPicker);
    assert_eq!(app.shown_models(), ["french", "reviewer", "none"], "the roles, and none since the tab has one");
    insta::assert_snapshot!("role_picker", screen(&mut app, 70, 12).backend());
    type_text(&mut app, "rev");
    assert_eq!(app.shown_models(), ["reviewer"]);
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!((app.focus, app.tab().role.as_deref()), (Focus::Chat, Some("reviewer")));
    enter(&mut app, "/role none");
    assert_eq!((app.tab().role.as_deref(), app.tab().system.as_deref()), (None, Some("be brief")));
    assert!(app.commands.iter().all(|c| !matches!(c, Command::Send { .. })), "no command is sent to the model");
}

#[test]
fn each_answer_shows_its_cost_and_the_status_bar_the_conversations_total() {
    use geminal::money::{AnswerCost, Usd};
    let mut app = App::new("gemini-2.5-flash", false);
    let priced = |nanos: i64| AnswerCost {
        cost: Some(Usd::from_nanos(nanos)),
        saved: None,
        priced_as: Some("gemini:gemini-2.5-flash".into()),
    };
    let usage =
        geminal::gemini::UsageMetadata { prompt_token_count: 1_000, candidates_token_count: 500, ..Default::default() };
    for (prompt, nanos) in [("one", 1_550_000), ("two", 2_000_000)] {
        ask(&mut app, prompt, "fine", false);
        let mut done = report("fine", Outcome::Complete);
        done.usage = Some(usage);
        done.cost = priced(nanos);
        app.on_event(AppEvent::TurnDone { turn: app.tab().turn.unwrap(), report: done });
    }
    let terminal = screen(&mut app, 100, 16);
    let all = rows(&terminal).join("\n");
    assert!(all.contains("gemini-2.5-flash · $0.00155"), "{all}");
    assert!(all.contains("gemini-2.5-flash · $0.002"), "{all}");
    assert!(status_row(&terminal).1.contains(" 3000 tokens · $0.00355 · "), "{:?}", status_row(&terminal));
    // An answer of unknown price is said so, and the total says how many.
    ask(&mut app, "three", "fine", false);
    let mut done = report("fine", Outcome::Complete);
    done.usage = Some(usage);
    app.on_event(AppEvent::TurnDone { turn: app.tab().turn.unwrap(), report: done });
    let terminal = screen(&mut app, 120, 16);
    assert!(rows(&terminal).join("\n").contains("· price unknown"));
    assert!(status_row(&terminal).1.contains(" tokens · $0.00355 + 1 unpriced · "), "{:?}", status_row(&terminal));
}

#[test]
fn the_history_search_field_edits_like_the_prompt_and_reopens_with_its_text_selected() {
    let mut app = App::new("gemini-flash-latest", false);
    let with = |code, modifiers| Event::Key(KeyEvent::new(code, modifiers));
    let last_search = |app: &App| {
        app.commands.iter().rev().find_map(|c| match c {
            Command::Search { query, .. } => Some(query.clone()),
            _ => None,
        })
    };
    app.on_terminal(with(KeyCode::Char('r'), KeyModifiers::CONTROL));
    assert_eq!(app.focus, Focus::History);
    type_text(&mut app, "why birds migrate");
    app.on_terminal(with(KeyCode::Backspace, KeyModifiers::ALT));
    assert_eq!(app.history.query, "why birds ", "Alt-Backspace deletes a word");
    app.on_terminal(with(KeyCode::Char('a'), KeyModifiers::CONTROL));
    type_text(&mut app, "tell me ");
    assert_eq!(app.history.query, "tell me why birds ", "Ctrl-A goes to the start");
    app.on_terminal(with(KeyCode::Char('k'), KeyModifiers::CONTROL));
    assert_eq!(app.history.query, "tell me ", "Ctrl-K deletes to the end");
    app.on_terminal(with(KeyCode::Char('e'), KeyModifiers::CONTROL));
    type_text(&mut app, "otters");
    app.on_terminal(with(KeyCode::Char('u'), KeyModifiers::CONTROL));
    assert_eq!(app.history.query, "", "Ctrl-U deletes to the start");
    type_text(&mut app, "terns");
    assert_eq!(last_search(&app).as_deref(), Some("terns"), "each change searches");
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!(app.focus, Focus::Chat);
    // Opened again: the old text is there, selected, so typing replaces it.
    app.on_terminal(with(KeyCode::Char('r'), KeyModifiers::CONTROL));
    assert_eq!((app.history.query.as_str(), app.history.field.parts()), ("terns", ("terns", "", true)));
    type_text(&mut app, "o");
    assert_eq!(app.history.query, "o");
    assert_eq!(last_search(&app).as_deref(), Some("o"));
    // Opened again, an arrow keeps the old text to edit.
    app.on_terminal(key(KeyCode::Esc));
    app.on_terminal(with(KeyCode::Char('r'), KeyModifiers::CONTROL));
    app.on_terminal(key(KeyCode::Home));
    type_text(&mut app, "t");
    assert_eq!(app.history.query, "to");
}
