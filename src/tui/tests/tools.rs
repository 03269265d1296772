//! Unit tests of the interface's tool turns (built only under `#[cfg(test)]`, from
//! `overlay/approve.rs`): the approval line's keys and the answers they send through the
//! oneshot, "always" per conversation, waits that end without an answer, tool cells folding and
//! their ids checked, `/tools` and what a tab's next turn is given.

use std::sync::Arc;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use tokio::sync::oneshot;

use super::*;
use crate::chat::{Outcome, Shown, TurnReport};
use crate::store::MessageStatus;
use crate::tools::{Selection, ToolOutput, ToolStep};
use crate::tui::app::Command;
use crate::tui::conversation::tools::ToolBody;

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_terminal(key(KeyCode::Char(c)));
    }
}

/// Sends "q" in the active tab; its turn id.
fn send(app: &mut App) -> u64 {
    typed(app, "q");
    app.on_terminal(key(KeyCode::Enter));
    app.tab().turn.expect("a turn runs")
}

fn call(id: &str, server: &str, tool: &str) -> PendingCall {
    PendingCall { id: id.into(), server: server.into(), tool: tool.into(), arguments: json!({"path": "/tmp/x"}) }
}

/// Turn `turn` asks about `calls` in conversation `conversation`; the line is in sight long
/// enough for keys to count.
fn ask(app: &mut App, turn: u64, conversation: i64, calls: Vec<PendingCall>) -> oneshot::Receiver<Vec<Approval>> {
    let (reply, answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn, conversation_id: conversation, calls, reply });
    arm(app);
    answer
}

fn arm(app: &mut App) {
    for tab in &mut app.tabs {
        if let Some(w) = tab.approval.as_mut() {
            w.shown_at = w.shown_at.checked_sub(ARMS_AFTER).expect("the clock runs");
        }
    }
}

fn done(app: &mut App, turn: u64) {
    app.on_event(AppEvent::TurnDone { turn, report: report_of("Done.") });
}

fn report_of(text: &str) -> Box<TurnReport> {
    Box::new(TurnReport {
        conversation_id: Some(7),
        prompt_id: Some(1),
        answer_id: Some(2),
        text: text.into(),
        outcome: Outcome::Complete,
        status: MessageStatus::Complete,
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

#[test]
fn y_runs_n_refuses_and_each_call_is_answered_in_turn() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "read"), call("b", "fs", "write")]);
    assert_eq!(app.focus, Focus::Approve);
    assert_eq!(app.tab().approval.as_ref().unwrap().current(), Some(0));
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(app.tab().approval.as_ref().unwrap().current(), Some(1), "the second call is asked next");
    assert!(answer.try_recv().is_err(), "nothing is sent until every call is answered");
    app.on_terminal(key(KeyCode::Char('n')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run, Approval::Refuse]);
    assert!(app.tab().approval.is_none());
    assert_eq!(app.focus, Focus::Chat, "keys go back to the prompt");
}

#[test]
fn esc_stops_the_turn_for_every_call_not_answered() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let mut answer =
        ask(&mut app, turn, 7, vec![call("a", "fs", "read"), call("b", "fs", "write"), call("c", "t", "now")]);
    app.on_terminal(key(KeyCode::Char('y')));
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run, Approval::Stop, Approval::Stop]);
    assert!(app.commands.iter().all(|c| !matches!(c, Command::Cancel { .. })), "the turn stops itself, saved");
}

#[test]
fn other_keys_are_ignored_and_a_key_typed_as_the_line_appears_is_no_answer() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let (reply, mut answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn, conversation_id: 7, calls: vec![call("a", "fs", "write")], reply });
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(answer.try_recv().is_err(), "a y typed just as it appeared answers nothing");
    arm(&mut app);
    for c in ['x', 'e', ' ', 'q', '1'] {
        app.on_terminal(key(KeyCode::Char(c)));
    }
    app.on_terminal(key(KeyCode::Enter));
    app.on_terminal(key(KeyCode::Backspace));
    assert!(answer.try_recv().is_err() && app.tab().input_is_empty(), "ignored, and not typed");
    app.on_terminal(Event::Paste("y".into()));
    assert!(answer.try_recv().is_err() && app.tab().input_is_empty(), "a paste is no answer either");
    app.on_terminal(key(KeyCode::Char('Y')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run]);
}

#[test]
fn always_answers_the_tools_later_calls_in_this_conversation_only() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let mut answer =
        ask(&mut app, turn, 7, vec![call("a", "fs", "read"), call("b", "time", "now"), call("c", "fs", "read")]);
    app.on_terminal(key(KeyCode::Char('a')));
    assert_eq!(app.tab().approval.as_ref().unwrap().current(), Some(1), "the third call (same tool) is answered");
    app.on_terminal(key(KeyCode::Char('n')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run, Approval::Refuse, Approval::Run]);
    // The next round of the same conversation: answered at once, no line shown.
    let (reply, mut answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn, conversation_id: 7, calls: vec![call("d", "fs", "read")], reply });
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run]);
    assert!(app.tab().approval.is_none() && app.focus == Focus::Chat);
    // Another tool of the same server still asks.
    let mut answer = ask(&mut app, turn, 7, vec![call("e", "fs", "write")]);
    assert!(answer.try_recv().is_err());
    app.on_terminal(key(KeyCode::Char('n')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Refuse]);
    // The same tool in another conversation (another tab) asks.
    app.on_terminal(ctrl('t'));
    let other = send(&mut app);
    let mut answer = ask(&mut app, other, 8, vec![call("a", "fs", "read")]);
    assert!(answer.try_recv().is_err(), "always was for conversation 7 only");
    assert_eq!(app.focus, Focus::Approve);
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run]);
}

#[test]
fn printable_keys_stay_text_while_a_background_tab_waits() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_terminal(ctrl('t'));
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write")]);
    assert_eq!(app.active, 1);
    assert_eq!(app.focus, Focus::Chat, "the line is in tab 1, not here");
    assert!(app.tabs[0].approval.is_some() && app.tabs[0].unread, "tab 1 is marked");
    typed(&mut app, "yes and no, always");
    assert_eq!(app.tab().input_text(), "yes and no, always");
    assert!(answer.try_recv().is_err(), "nothing typed here answered tab 1's call");
    // Going there gives the keys to its line (in sight from now: a key at once is no answer).
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Char('1'), KeyModifiers::ALT)));
    assert_eq!((app.active, app.focus), (0, Focus::Approve));
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(answer.try_recv().is_err());
    arm(&mut app);
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run]);
    assert_eq!(app.tabs[1].input_text(), "yes and no, always", "the other tab's draft is whole");
}

#[test]
fn a_waiting_tab_is_marked_in_the_tab_bar() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_terminal(ctrl('t'));
    let _answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write")]);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(60, 14)).unwrap();
    crate::tui::draw(&mut terminal, &mut app).unwrap();
    let buffer = terminal.backend().buffer();
    let bar: String = (0..60).map(|x| buffer[(x, 0)].symbol().to_owned()).collect();
    assert!(bar.starts_with(" 1 q ?"), "{bar}");
}

#[test]
fn closing_a_waiting_tab_answers_stop() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write"), call("b", "fs", "read")]);
    app.on_terminal(key(KeyCode::Char('y')));
    app.on_terminal(ctrl('w'));
    assert_eq!(app.focus, Focus::Confirm, "a running answer: asked first");
    assert!(answer.try_recv().is_err());
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Run, Approval::Stop]);
    assert!(app.commands.contains(&Command::Cancel { tab: 1 }));
    assert_eq!(app.focus, Focus::Chat);
}

#[test]
fn a_turn_that_ends_or_an_app_that_quits_never_leaves_a_call_waiting() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write")]);
    done(&mut app, turn);
    assert_eq!(answer.try_recv().unwrap(), [Approval::Stop]);
    assert_eq!(app.focus, Focus::Chat);

    let turn = send(&mut app);
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write")]);
    app.stop_all_waiting();
    assert_eq!(answer.try_recv().unwrap(), [Approval::Stop]);

    // A turn no tab runs any more: Stop at once.
    let (reply, mut answer) = oneshot::channel();
    app.on_event(AppEvent::Approve { turn: 999, conversation_id: 7, calls: vec![call("a", "fs", "write")], reply });
    assert_eq!(answer.try_recv().unwrap(), [Approval::Stop]);

    // The app dropped with a call waiting: the reply is dropped, which the approver takes as Stop.
    let turn = send(&mut app);
    let mut answer = ask(&mut app, turn, 7, vec![call("a", "fs", "write")]);
    drop(app);
    assert_eq!(answer.try_recv().unwrap(), [Approval::Stop]);
}

#[tokio::test]
async fn the_approver_asks_the_app_loop_and_waits_for_the_users_word() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let approver = TuiApprover::new(tx, turn);
    let calls = vec![call("a", "fs", "read"), call("b", "fs", "write")];
    let asking = {
        let approver = approver.clone();
        let calls = calls.clone();
        // Whatever the turn calls itself, the question is about the interface's turn.
        tokio::spawn(async move { approver.approve(0, 7, &calls).await })
    };
    let event = rx.recv().await.unwrap();
    assert!(
        matches!(&event, AppEvent::Approve { turn: t, conversation_id: 7, calls: c, .. } if *t == turn && *c == calls)
    );
    app.on_event(event);
    arm(&mut app);
    app.on_terminal(key(KeyCode::Char('n')));
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(asking.await.unwrap(), [Approval::Refuse, Approval::Run]);

    // With the app loop gone, the approver answers Stop instead of waiting forever.
    drop(rx);
    assert_eq!(approver.approve(turn, 7, &calls).await, [Approval::Stop, Approval::Stop]);
}

fn called(id: &str, tool: &str) -> Shown {
    Shown::Tool(ToolStep::Called { id: id.into(), server: "fs".into(), tool: tool.into(), arguments: json!({"p": 1}) })
}

fn returned(id: &str, text: &str) -> Shown {
    let out = ToolOutput { content: json!({"text": text}), media: Vec::new(), is_error: false, truncated: false };
    Shown::Tool(ToolStep::Returned { id: id.into(), result: Ok(out) })
}

#[test]
fn tool_steps_are_cells_before_the_answer_and_a_result_must_match_a_call_of_this_turn() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Let me look. ".into()) });
    app.on_event(AppEvent::Turn { turn, shown: called("c1", "read") });
    app.on_event(AppEvent::Turn { turn, shown: returned("nope", "not for any call") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c1", "robin") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c1", "a second result for the same call") });
    app.on_event(AppEvent::Turn { turn, shown: Shown::Tool(ToolStep::Round { round: 1, max: 10 }) });
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Found it.".into()) });
    let tab = app.tab();
    let kinds: Vec<String> = tab
        .messages
        .iter()
        .map(|m| match m.tool.as_deref().map(|c| &c.body) {
            None => format!("{:?}", m.role),
            Some(ToolBody::Call { .. }) => "call".into(),
            Some(ToolBody::Output { text, .. }) => format!("result {text}"),
            Some(other) => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "User",
            "Said(\"Let me look. \")",
            "call",
            "result robin",
            "Step(\"round 1 of 10: the results went back to the model\")",
            "Model"
        ],
        "what the answer wrote before its call sits above the call"
    );
    assert_eq!(tab.messages[5].text, "Let me look. Found it.", "the answer is still written into, whole");
    assert_eq!(&tab.messages[5].text[tab.messages[5].shown_from..], "Found it.", "and shows what came after");
    done(&mut app, turn);
    // The report's text does not start with the words above the call: the answer is shown whole.
    assert_eq!(app.tab().messages.len(), 5, "{:?}", app.tab().messages);
    assert_eq!((app.tab().messages[4].text.as_str(), app.tab().messages[4].shown_from), ("Done.", 0));
    assert_eq!(app.tab().messages[0].id, Some(1), "the prompt is known by its id through the tool cells");

    // A late result of the last turn's call lands nowhere in the next turn.
    let next = send(&mut app);
    app.on_event(AppEvent::Turn { turn: next, shown: returned("c1", "late") });
    assert_eq!(app.tab().messages.len(), 7, "only the new prompt and answer were added");
}

/// The answer's words before its calls stay above them when the turn ends with the same text,
/// and two rounds each get theirs; a restart puts the answer back whole below the calls.
#[test]
fn the_words_before_each_rounds_calls_sit_above_them() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let text = |app: &mut App, t: &str| app.on_event(AppEvent::Turn { turn, shown: Shown::Text(t.into()) });
    text(&mut app, "First I read. ");
    app.on_event(AppEvent::Turn { turn, shown: called("c1", "read") });
    app.on_event(AppEvent::Turn { turn, shown: called("c2", "read") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c1", "robin") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c2", "wren") });
    text(&mut app, "Then I write. ");
    app.on_event(AppEvent::Turn { turn, shown: called("c3", "write") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c3", "ok") });
    text(&mut app, "Done: two birds.");
    let kinds = |app: &App| -> Vec<String> {
        app.tab()
            .messages
            .iter()
            .map(|m| match m.tool.as_deref().map(|c| &c.body) {
                None => format!("{:?} {}", m.role, &m.text[m.shown_from..]),
                Some(ToolBody::Call { .. }) => format!("call {}", m.tool.as_ref().unwrap().call_id),
                Some(ToolBody::Output { text, .. }) => format!("result {text}"),
                Some(ToolBody::Said(text)) => format!("said {text}"),
                Some(other) => format!("{other:?}"),
            })
            .collect()
    };
    let expected = [
        "User q",
        "said First I read. ",
        "call c1",
        "call c2",
        "result robin",
        "result wren",
        "said Then I write. ",
        "call c3",
        "result ok",
        "Model Done: two birds.",
    ];
    assert_eq!(kinds(&app), expected);
    let mut report = TurnReport { text: "First I read. Then I write. Done: two birds.".into(), ..*report_of("") };
    report.answer_id = Some(2);
    app.on_event(AppEvent::TurnDone { turn, report: Box::new(report) });
    assert_eq!(kinds(&app), expected, "the same text at the end: kept as it was");
    assert_eq!(app.tab().messages[9].text, "First I read. Then I write. Done: two birds.", "y copies it whole");

    // A restart in the next turn clears the answer: its words go back below the calls.
    let next = send(&mut app);
    app.on_event(AppEvent::Turn { turn: next, shown: Shown::Text("Looking. ".into()) });
    app.on_event(AppEvent::Turn { turn: next, shown: called("d1", "read") });
    app.on_event(AppEvent::Turn { turn: next, shown: Shown::Restart });
    let last = app.tab().messages.len() - 1;
    assert_eq!(app.tab().messages[last].shown_from, 0);
    assert!(
        !app.tab().messages[10..].iter().any(|m| matches!(m.tool.as_deref().map(|c| &c.body), Some(ToolBody::Said(_)))),
        "{:?}",
        kinds(&app)
    );
}

#[test]
fn enter_or_t_on_a_selected_tool_cell_unfolds_and_folds_it() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_event(AppEvent::Turn { turn, shown: called("c1", "read") });
    app.on_event(AppEvent::Turn { turn, shown: returned("c1", "robin") });
    done(&mut app, turn);
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    app.on_terminal(key(KeyCode::Up));
    assert_eq!(app.tab().selected, Some(2));
    let folded = |app: &App, i: usize| app.tab().messages[i].tool.as_ref().unwrap().folded;
    assert!(folded(&app, 2));
    app.on_terminal(key(KeyCode::Enter));
    assert!(!folded(&app, 2), "Enter unfolds");
    assert!(app.tab().editing.is_none(), "and edits nothing");
    app.on_terminal(key(KeyCode::Char('t')));
    assert!(folded(&app, 2), "t folds");
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Char('t')));
    assert!(!folded(&app, 1), "the call too");
    // y copies the cell's text.
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(matches!(app.commands.last(), Some(Command::Copy { text }) if text.starts_with("fs · read\n{")));
    // On the prompt, Enter still edits.
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Enter));
    assert!(app.tab().editing.is_some());
}

#[test]
fn regenerating_after_a_tool_turn_counts_the_answer_not_a_tool_cell() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_event(AppEvent::Turn { turn, shown: called("c1", "read") });
    done(&mut app, turn);
    app.tab_mut().conversation_id = Some(7);
    app.tab_mut().messages[2].alternatives = crate::store::Alternatives { index: 2, count: 2 };
    app.on_terminal(ctrl('g'));
    let tab = app.tab();
    assert_eq!(tab.messages.len(), 2, "the old tool cells and answer make way");
    assert_eq!(tab.messages[1].alternatives, crate::store::Alternatives { index: 3, count: 3 });
}

#[test]
fn tools_command_sets_what_the_next_turn_offers() {
    let mut app = App::new("m", false);
    app.tool_servers = vec!["fs".into(), "time".into(), "remote".into()];
    app.max_tool_steps = 4;
    let enter = |app: &mut App, line: &str| {
        typed(app, line);
        app.on_terminal(key(KeyCode::Enter));
    };
    let approver: Arc<dyn Approver> = Arc::new(TuiApprover::new(tokio::sync::mpsc::unbounded_channel().0, 1));
    assert_eq!(app.tool_use(app.tab(), approver.clone()).selection, Selection::Off, "off until asked");
    assert!(!app.tab().tools_chosen, "until /tools, a role's tools choose (the runner applies them)");
    enter(&mut app, "/tools fs, time");
    assert!(app.tab().tools_chosen, "/tools wins over a role's tools");
    let spec = app.tool_use(app.tab(), approver.clone());
    assert_eq!(spec.selection, Selection::Servers(vec!["fs".into(), "time".into()]));
    assert_eq!((spec.max_steps, spec.approve_all, spec.approver.is_some()), (4, false, true));
    assert!(app.tab().input_is_empty());
    enter(&mut app, "/tools");
    assert_eq!(
        app.flash(),
        Some("Tools: fs (on), time (on), remote (off) · /tools on, off or NAME,NAME changes them.")
    );
    enter(&mut app, "/tools fs,nope");
    assert_eq!(app.flash(), Some("No server named nope is configured (there are: fs, time, remote)."));
    assert_eq!(app.tab().input_text(), "/tools fs,nope", "a mistake stays to be corrected");
    assert_eq!(
        app.tool_use(app.tab(), approver.clone()).selection,
        Selection::Servers(vec!["fs".into(), "time".into()])
    );
    app.tab_mut().clear_input();
    enter(&mut app, "/tools on");
    assert_eq!(app.tool_use(app.tab(), approver.clone()).selection, Selection::All);
    // Each tab its own.
    app.on_terminal(ctrl('t'));
    assert_eq!(app.tool_use(app.tab(), approver.clone()).selection, Selection::Off);
    app.switch_to(0);
    enter(&mut app, "/tools off");
    assert_eq!(app.tool_use(app.tab(), approver.clone()).selection, Selection::Off);
    // With no server configured, it says how to add one.
    app.tool_servers.clear();
    enter(&mut app, "/tools on");
    assert!(app.flash().is_some_and(|f| f.starts_with("No MCP servers are configured")));
}

#[test]
fn huge_arguments_take_a_few_lines_of_the_approval_line() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let content = "line of a long file\n".repeat(50_000);
    let big = PendingCall {
        id: "a".into(),
        server: "fs".into(),
        tool: "write_file".into(),
        arguments: json!({ "content": content }),
    };
    let _answer = ask(&mut app, turn, 7, vec![big, call("b", "fs", "read")]);
    let theme = app.theme;
    let waiting = app.tab().approval.as_ref().unwrap();
    assert!(waiting.arguments[0].len() < 2100 && waiting.arguments[0].ends_with("… (1.0 MiB in all)"), "kept bounded");
    let shown: Vec<String> =
        lines(waiting, 80, &theme).iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
    assert_eq!(shown.len(), 1 + ARGUMENT_LINES + 1 + 1, "{shown:#?}");
    assert!(shown[ARGUMENT_LINES].contains("more lines"), "{shown:#?}");
    assert_eq!(height(app.tab(), 80, &theme, 40), 10);
    assert_eq!(height(app.tab(), 80, &theme, 8), 5, "the conversation keeps three rows");
}

#[test]
fn from_the_approval_line_alt_up_selects_the_calls_to_read_them_and_esc_comes_back() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    app.on_event(AppEvent::Turn { turn, shown: called("c1", "write") });
    let mut answer = ask(&mut app, turn, 7, vec![call("c1", "fs", "write")]);
    app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::ALT)));
    assert_eq!(app.focus, Focus::Messages);
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Enter));
    assert!(!app.tab().messages[1].tool.as_ref().unwrap().folded, "the call is unfolded");
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(matches!(app.commands.last(), Some(Command::Copy { .. })), "y copies here, answers nothing");
    assert!(answer.try_recv().is_err());
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!(app.focus, Focus::Approve);
    arm(&mut app);
    app.on_terminal(key(KeyCode::Char('n')));
    assert_eq!(answer.try_recv().unwrap(), [Approval::Refuse]);
}

#[test]
fn with_many_calls_the_one_asked_about_stays_in_sight() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let calls = (1..=12).map(|i| call(&format!("c{i}"), "fs", &format!("tool{i}"))).collect();
    let mut answer = ask(&mut app, turn, 7, calls);
    let shown = |app: &mut App| {
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 16)).unwrap();
        crate::tui::draw(&mut terminal, app).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..16).map(|y| (0..80).map(|x| buffer[(x, y)].symbol().to_owned()).collect::<String>()).collect::<Vec<_>>()
    };
    assert!(shown(&mut app).iter().any(|r| r.starts_with("▶ fs · tool1 ")));
    for _ in 0..10 {
        app.on_terminal(key(KeyCode::Char('y')));
    }
    let rows = shown(&mut app);
    assert!(rows.iter().any(|r| r.starts_with("▶ fs · tool11 ")), "{rows:#?}");
    assert!(rows.iter().any(|r| r.contains("call 11 of 12")), "{rows:#?}");
    assert!(rows.iter().any(|r| r.starts_with("y run · n refuse")), "{rows:#?}");
    app.on_terminal(key(KeyCode::Char('y')));
    app.on_terminal(key(KeyCode::Char('n')));
    let mut expected = vec![Approval::Run; 11];
    expected.push(Approval::Refuse);
    assert_eq!(answer.try_recv().unwrap(), expected);
}

#[test]
fn tab_completes_server_names_after_slash_tools() {
    let mut app = App::new("m", false);
    app.tool_servers = vec!["fs".into(), "time".into()];
    typed(&mut app, "/tools f");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/tools fs");
    typed(&mut app, ",");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/tools fs,time");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().tools, Selection::Servers(vec!["fs".into(), "time".into()]));
}

#[test]
fn servers_that_did_not_start_are_one_quiet_line_before_the_answer() {
    let mut app = App::new("m", false);
    let turn = send(&mut app);
    let servers = vec![
        crate::tools::ListError::ServerStopped {
            server: "fs".into(),
            last_stderr: Some("npx\u{1b}[2J was not found".into()),
        },
        crate::tools::ListError::ServerStopped { server: "web".into(), last_stderr: None },
    ];
    app.on_event(AppEvent::Turn { turn, shown: Shown::Tool(ToolStep::Unavailable { servers }) });
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Hello.".into()) });
    let tab = app.tab();
    let step = tab.messages[1].tool.as_deref().map(|c| c.body.clone());
    assert_eq!(
        step,
        Some(ToolBody::Step(
            "Servers fs (npx␛[2J was not found), web did not start: this turn goes on without their tools.".into()
        ))
    );
    assert_eq!(tab.messages[2].text, "Hello.");
}

/// A reopened conversation's thousands of messages become cells in the buffer they came in
/// (Rust collects in place only when a cell is no bigger than a stored message): a field that
/// grows `ChatMessage` past it doubled the time to open 5,000 messages (benches/tui.rs).
#[test]
fn a_cell_is_no_bigger_than_a_stored_message() {
    assert!(
        std::mem::size_of::<crate::tui::conversation::cells::ChatMessage>()
            <= std::mem::size_of::<crate::store::StoredMessage>()
    );
}
