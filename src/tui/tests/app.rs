//! Unit tests of [`crate::tui::app`] (built only under `#[cfg(test)]`, from `app.rs`): keys, commands and
//! runner events change the state as they should.

use super::*;
use crate::attach::Attachment;
use crate::chat::{Branch, Outcome, Shown, TurnReport};
use crate::gemini::ApiError;
use crate::store::{Alternatives, MessageStatus};
use crate::tui::overlay::history::HistoryRow;
use crossterm::event::KeyEvent;
use crossterm::event::{KeyCode, KeyModifiers};

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_terminal(key(KeyCode::Char(c)));
    }
}

/// A turn's report as `ChatSession` gives it (status as the turn state machine decides it).
fn report(text: &str, outcome: Outcome) -> Box<TurnReport> {
    report_ids(text, outcome, 1, 2)
}

fn report_ids(text: &str, outcome: Outcome, prompt_id: i64, answer_id: i64) -> Box<TurnReport> {
    let status = match &outcome {
        Outcome::Complete => MessageStatus::Complete,
        Outcome::Cancelled => MessageStatus::Interrupted,
        Outcome::Failed(_) if !text.is_empty() => MessageStatus::Interrupted,
        Outcome::Failed(_) => MessageStatus::Error,
    };
    Box::new(TurnReport {
        conversation_id: Some(7),
        prompt_id: Some(prompt_id),
        answer_id: Some(answer_id),
        text: text.into(),
        outcome,
        status,
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

use super::super::clipboard::Via;

fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

#[test]
fn ctrl_x_hands_the_prompt_to_the_editor_and_takes_back_what_it_left() {
    let mut app = App::new("m", false);
    typed(&mut app, "first draft");
    app.on_terminal(ctrl('x'));
    let tab = app.tab().id;
    assert_eq!(app.commands, [Command::EditPrompt { tab, text: "first draft".into() }]);
    app.edited(tab, Ok(Some("first draft\nrewritten at length".into())));
    assert_eq!(app.tab().input_text(), "first draft\nrewritten at length");
    assert!(app.flash().is_some_and(|f| f.contains("back from the editor")));
    // Undo gives the draft back as it was before the editor (the text in, the draft out).
    app.on_terminal(ctrl('z'));
    app.on_terminal(ctrl('z'));
    assert_eq!(app.tab().input_text(), "first draft");
    // A failed editor leaves the prompt alone and says why.
    app.edited(tab, Err("There is no editor nope: set $VISUAL or $EDITOR to one that is installed.".into()));
    assert_eq!(app.tab().input_text(), "first draft");
    assert!(app.flash().is_some_and(|f| f.starts_with("There is no editor nope")));
    app.edited(tab, Ok(None));
    assert_eq!(app.tab().input_text(), "first draft");
}

/// An app whose tab 1 is writing an answer to "q".
fn answering() -> App {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    assert!(app.tab().streaming);
    app
}

#[test]
fn ctrl_c_clears_a_typed_prompt_which_ctrl_z_brings_back_and_never_quits() {
    let mut app = App::new("m", false);
    typed(&mut app, "a long question");
    app.on_terminal(ctrl('c'));
    assert!(!app.quit, "text in the prompt: Ctrl-C does not quit");
    assert_eq!(app.tab().input_text(), "");
    assert!(app.flash().unwrap().contains("Ctrl-Z"), "{:?}", app.flash());
    app.on_terminal(ctrl('z'));
    assert_eq!(app.tab().input_text(), "a long question", "restored");
    app.on_terminal(ctrl('u'));
    assert_eq!(app.tab().input_text(), "", "Ctrl-U deletes to the start of the line");
    app.on_terminal(ctrl('c'));
    assert!(app.quit, "an empty prompt and nothing running: Ctrl-C quits");
}

#[test]
fn quitting_with_answers_running_asks_once_and_a_second_press_quits() {
    let mut app = answering();
    app.on_terminal(ctrl('t'));
    typed(&mut app, "r");
    app.on_terminal(key(KeyCode::Enter));
    app.on_terminal(ctrl('q'));
    assert!(!app.quit);
    assert_eq!((app.focus, &app.confirm), (Focus::Confirm, &Some(Confirm::Quit { running: 2 })));
    app.on_terminal(key(KeyCode::Char('n')));
    assert_eq!((app.focus, app.quit), (Focus::Chat, false), "n stays");
    app.on_terminal(ctrl('c'));
    assert!(!app.quit, "asks again");
    app.on_terminal(ctrl('c'));
    assert!(app.quit, "the second press quits");
    let mut app = answering();
    app.on_terminal(ctrl('q'));
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(app.quit, "y quits");
}

#[test]
fn closing_a_tab_with_a_draft_or_a_running_answer_asks_first() {
    let mut app = App::new("m", false);
    app.on_terminal(ctrl('t'));
    typed(&mut app, "unsent draft");
    app.on_terminal(ctrl('w'));
    assert_eq!(app.confirm, Some(Confirm::CloseTab { tab: app.tabs[1].id, number: 2, running: false, draft: true }));
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!((app.tabs.len(), app.tab().input_text(), app.focus), (2, "unsent draft".into(), Focus::Chat));
    app.on_terminal(ctrl('w'));
    app.on_terminal(ctrl('w'));
    assert_eq!(app.tabs.len(), 1, "Ctrl-W twice closes it");

    let mut app = answering();
    app.on_terminal(ctrl('t'));
    app.on_terminal(ctrl('w'));
    assert_eq!((app.tabs.len(), app.confirm.is_none()), (1, true), "an empty idle tab closes at once");
    app.on_terminal(ctrl('w'));
    assert!(matches!(app.confirm, Some(Confirm::CloseTab { running: true, draft: false, .. })));
    app.on_terminal(key(KeyCode::Char('y')));
    assert!(app.commands.contains(&Command::Cancel { tab: 1 }), "its answer is stopped, and so kept");
    assert!(!app.tab().streaming && app.tab().messages.is_empty(), "a fresh tab takes its place");
}

#[test]
fn up_in_an_empty_prompt_recalls_this_tabs_prompts_then_earlier_ones() {
    let mut app = App::new("m", false);
    app.on_event(AppEvent::Prompts(vec!["from yesterday".into(), "second".into(), "older still".into()]));
    for prompt in ["first", "second"] {
        typed(&mut app, prompt);
        app.on_terminal(key(KeyCode::Enter));
        let turn = app.tab().turn.unwrap();
        app.on_event(AppEvent::TurnDone { turn, report: report("ok", Outcome::Complete) });
    }
    let up = |app: &mut App| {
        app.on_terminal(key(KeyCode::Up));
        app.tab().input_text()
    };
    let down = |app: &mut App| {
        app.on_terminal(key(KeyCode::Down));
        app.tab().input_text()
    };
    assert_eq!(up(&mut app), "second");
    assert_eq!(up(&mut app), "first");
    assert_eq!(up(&mut app), "from yesterday", "then history's, each once");
    assert_eq!(up(&mut app), "older still");
    assert_eq!(up(&mut app), "older still", "the oldest stays");
    assert_eq!(app.flash(), Some("No earlier prompt."));
    assert_eq!(down(&mut app), "from yesterday");
    assert_eq!(down(&mut app), "first");
    assert_eq!(down(&mut app), "second");
    assert_eq!(down(&mut app), "", "past the newest: empty again");
    // Once a recalled prompt is changed, the arrows move the cursor in it.
    up(&mut app);
    typed(&mut app, " again");
    assert_eq!(up(&mut app), "second again");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.past_prompts[0], "second again", "a sent prompt is recalled first everywhere");
    app.on_terminal(ctrl('t'));
    assert_eq!(up(&mut app), "second again", "a new tab recalls the other tabs' prompts too");
}

#[test]
fn tabs_are_kept_with_their_drafts_and_put_back_in_order() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    app.on_event(AppEvent::TurnDone { turn: 1, report: report("ok", Outcome::Complete) });
    app.on_terminal(ctrl('t'));
    typed(&mut app, "half a question");
    app.on_terminal(ctrl('t'));
    app.on_terminal(alt(KeyCode::Char('2')));
    let kept = app.open_tabs();
    assert_eq!(
        kept.iter().map(|t| (t.conversation_id, t.draft.as_str(), t.active)).collect::<Vec<_>>(),
        [(Some(7), "", false), (None, "half a question", true), (None, "", false)]
    );
    let stored = |id, role, text: &str| StoredMessage {
        id,
        conversation_id: 7,
        parent_id: None,
        thought_tokens: None,
        thoughts: None,
        grounding: None,
        role,
        text: text.into(),
        model: None,
        status: MessageStatus::Complete,
        error: None,
        cached: false,
        created_at: 0,
        prompt_tokens: None,
        output_tokens: None,
        alternatives: Alternatives::default(),
        attachments: Vec::new(),
        cost: Default::default(),
    };
    let mut fresh = App::new("m", false);
    fresh.tab_mut().system = Some("be brief".into());
    fresh.restore(vec![
        Restored {
            conversation: Some(RestoredConversation {
                id: 7,
                tool_calls: Vec::new(),
                title: "q".into(),
                model: "gemini-2.5-pro".into(),
                system: None,
                role: None,
                settings: None,
                messages: vec![stored(1, Role::User, "q"), stored(2, Role::Model, "ok")],
            }),
            draft: String::new(),
            active: false,
        },
        Restored { conversation: None, draft: "half a question".into(), active: true },
    ]);
    assert_eq!(fresh.tabs.len(), 2);
    assert_eq!(fresh.active, 1, "the tab that was active");
    assert_eq!(fresh.tab().input_text(), "half a question", "its draft");
    assert_eq!(fresh.tab().system.as_deref(), Some("be brief"), "a new tab gets the configured system prompt");
    let first = &fresh.tabs[0];
    assert_eq!((first.conversation_id, first.model.as_str(), first.messages.len()), (Some(7), "gemini-2.5-pro", 2));
    fresh.open_conversation(7);
    assert_eq!(fresh.active, 0, "opening a restored conversation focuses its tab");
    assert!(fresh.commands.is_empty(), "nothing to load");
}

fn enter(app: &mut App, line: &str) {
    typed(app, line);
    app.on_terminal(key(KeyCode::Enter));
}

#[test]
fn slash_commands_act_and_are_never_sent_to_the_model() {
    let mut app = App::new("m", false);
    enter(&mut app, "/system be brief");
    assert_eq!(app.tab().system.as_deref(), Some("be brief"));
    enter(&mut app, "/system");
    assert_eq!(app.tab().system.as_deref(), Some("be brief"), "bare /system shows, it does not clear");
    assert!(app.flash().unwrap().contains("be brief"), "{:?}", app.flash());
    enter(&mut app, "/system clear");
    assert_eq!(app.tab().system, None);
    enter(&mut app, "/model gemini-2.5-pro");
    assert_eq!(app.tab().model, "gemini-2.5-pro");
    enter(&mut app, "/frobnicate the data");
    assert!(app.flash().unwrap().contains("/frobnicate is not a command"), "{:?}", app.flash());
    assert_eq!(app.tab().input_text(), "/frobnicate the data", "kept to be corrected");
    app.on_terminal(ctrl('u'));
    enter(&mut app, "/rename Bird notes");
    assert!(app.flash().unwrap().contains("Nothing to rename yet"), "{:?}", app.flash());
    app.on_terminal(ctrl('u'));
    assert!(app.commands.iter().all(|c| !matches!(c, Command::Send { .. })), "nothing reached the model");
    enter(&mut app, "//etc/hosts: what is it?");
    assert!(app.commands.contains(&Command::Send {
        tab: 1,
        turn: 1,
        prompt: "/etc/hosts: what is it?".into(),
        branch: Branch::Continue,
        attachments: Vec::new(),
    }));
    app.on_event(AppEvent::TurnDone { turn: 1, report: report("A file.", Outcome::Complete) });
    enter(&mut app, "/rename Bird notes");
    assert!(app.commands.contains(&Command::Rename { id: 7, title: "Bird notes".into() }));
    app.on_event(AppEvent::Renamed { id: 7, title: "Bird notes".into() });
    assert_eq!(app.tab().title, "Bird notes");
    enter(&mut app, "/clear");
    assert!(app.tab().messages.is_empty() && app.tab().conversation_id.is_none());
    assert!(app.flash().unwrap().contains("in the history"), "{:?}", app.flash());
    enter(&mut app, "/help");
    assert_eq!(app.focus, Focus::Help);
}

#[test]
fn a_command_completes_as_it_is_typed() {
    let mut app = App::new("m", false);
    typed(&mut app, "/");
    assert!(app.slash_hint().unwrap().contains("/system  /model"), "{:?}", app.slash_hint());
    typed(&mut app, "sy");
    assert!(app.slash_hint().unwrap().starts_with("/system [TEXT | clear]"), "{:?}", app.slash_hint());
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/system ");
    assert_eq!(app.slash_hint(), None, "the name is whole");
}

#[test]
fn tab_on_an_ambiguous_start_shows_the_candidates_and_then_takes_each_in_turn() {
    let mut app = App::new("m", false);
    typed(&mut app, "/th");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/th");
    assert_eq!(app.flash(), Some("/thinking  /thoughts · Tab again takes each in turn"));
    let mut seen = Vec::new();
    for _ in 0..3 {
        app.on_terminal(key(KeyCode::Tab));
        seen.push(app.tab().input_text());
    }
    assert_eq!(seen, ["/thinking ", "/thoughts ", "/thinking "]);
    // Typing ends the round: Tab completes what is typed now.
    app.tab_mut().set_input("/sea");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), "/search ");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report-2025.pdf"), "x").unwrap();
    std::fs::write(dir.path().join("report-2026.pdf"), "x").unwrap();
    let base = format!("{}/", dir.path().display());
    app.tab_mut().set_input(&format!("/attach {base}rep"));
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), format!("/attach {base}report-202"), "the shared start first");
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.flash(), Some("report-2025.pdf  report-2026.pdf · Tab again takes each in turn"));
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), format!("/attach {base}report-2025.pdf"));
    app.on_terminal(key(KeyCode::Tab));
    assert_eq!(app.tab().input_text(), format!("/attach {base}report-2026.pdf"));
}

#[test]
fn c_on_a_selected_message_copies_each_of_its_code_blocks_in_turn() {
    let mut app = App::new("m", false);
    enter(&mut app, "two snippets");
    let answer = "First:\n```sh\nls -l\n```\nSecond:\n```rust\nfn main() {}\n```\n";
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text(answer.into()) });
    app.on_event(AppEvent::TurnDone { turn: 1, report: report(answer, Outcome::Complete) });
    app.commands.clear();
    app.on_terminal(alt(KeyCode::Up));
    let c = || key(KeyCode::Char('c'));
    app.on_terminal(c());
    assert_eq!(app.commands.last(), Some(&Command::Copy { text: "ls -l".into() }));
    app.on_event(AppEvent::Copied(Ok(Via::Terminal)));
    assert!(app.flash().unwrap().contains("code block 1 of 2"), "{:?}", app.flash());
    app.on_terminal(c());
    assert_eq!(app.commands.last(), Some(&Command::Copy { text: "fn main() {}".into() }));
    app.on_terminal(c());
    assert_eq!(app.commands.last(), Some(&Command::Copy { text: "ls -l".into() }), "round again");
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(c());
    assert_eq!(app.flash(), Some("This message has no code block."), "the prompt has none");
}

#[test]
fn the_model_picker_sorts_newest_first_and_filters_as_you_type() {
    let mut app = App::new("gemini-2.5-flash", false);
    app.on_action(Action::OpenModels);
    let list = [
        "gemini-2.0-flash",
        "gemma-3-27b-it",
        "gemini-2.5-pro",
        "gemini-flash-latest",
        "gemini-3-pro-preview",
        "gemini-2.5-flash",
    ];
    app.on_event(AppEvent::Models(Ok(list.iter().map(|m| m.to_string()).collect())));
    assert_eq!(
        app.shown_models(),
        [
            "gemini-flash-latest",
            "gemini-3-pro-preview",
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-2.0-flash",
            "gemma-3-27b-it"
        ]
    );
    assert_eq!(app.model_selected, 2, "the tab's model is selected");
    typed(&mut app, "PRO");
    assert_eq!(app.shown_models(), ["gemini-3-pro-preview", "gemini-2.5-pro"]);
    typed(&mut app, " 2.5");
    assert_eq!(app.shown_models(), ["gemini-2.5-pro"]);
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().model, "gemini-2.5-pro");
    app.on_action(Action::OpenModels);
    assert_eq!((app.model_filter.as_str(), app.model_selected), ("", 3), "a fresh filter, the new model selected");
}

#[test]
fn ctrl_f_finds_text_in_the_conversation_and_moves_between_matches() {
    let mut app = App::new("m", false);
    for (q, a) in
        [("about rust", "Rust has ownership."), ("about go", "Go has goroutines."), ("more rust", "RUST again.")]
    {
        enter(&mut app, q);
        let turn = app.tab().turn.unwrap();
        app.on_event(AppEvent::TurnDone { turn, report: report(a, Outcome::Complete) });
    }
    app.on_terminal(ctrl('f'));
    assert_eq!(app.focus, Focus::Find);
    typed(&mut app, "rust");
    assert_eq!(app.find_matches(), [0, 1, 4, 5], "any case, prompts and answers");
    assert_eq!(app.tab().selected, Some(5), "the latest match first");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().selected, Some(4), "Enter goes to the earlier one");
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Up));
    app.on_terminal(key(KeyCode::Up));
    assert_eq!(app.tab().selected, Some(0), "and stops at the first");
    app.on_terminal(key(KeyCode::Down));
    assert_eq!(app.tab().selected, Some(1));
    typed(&mut app, "x");
    assert_eq!((app.find_matches().len(), app.tab().selected), (0, None), "no match, nothing selected");
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!((app.focus, app.tab().selected), (Focus::Chat, None));
}

#[test]
fn a_flash_belongs_to_its_tab_and_fades() {
    let mut app = App::new("m", false);
    app.on_action(Action::CopyAnswer);
    assert_eq!(app.flash(), Some("Nothing to copy yet."));
    app.on_terminal(ctrl('t'));
    assert_eq!(app.flash(), None, "another tab does not show it");
    app.tabs[0].flash = Some(Flash { text: "model changed".into(), at: std::time::Instant::now() });
    assert_eq!(app.flash(), None, "a model change in tab 1 is not announced in tab 2");
    app.on_terminal(alt(KeyCode::Char('1')));
    assert_eq!(app.flash(), None, "the next action ends it");
    app.on_action(Action::CopyAnswer);
    let later = std::time::Instant::now() + FLASH_FOR;
    assert!(app.expire_flashes(later));
    assert_eq!(app.flash(), None, "faded");
    assert!(!app.expire_flashes(later), "nothing left to fade");
}

fn alt(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::ALT))
}

/// A tab holding `exchanges` saved prompt/answer pairs (ids 1, 2, 3, ...).
fn conversation(exchanges: usize) -> App {
    let mut app = App::new("m", false);
    for i in 0..exchanges {
        typed(&mut app, &format!("question {i}"));
        app.on_terminal(key(KeyCode::Enter));
        let id = 2 * i as i64 + 1;
        app.on_event(AppEvent::TurnDone {
            turn: i as u64 + 1,
            report: report_ids(&format!("answer {i}"), Outcome::Complete, id, id + 1),
        });
    }
    app.commands.clear();
    app.tab_mut().flash = None;
    app
}

#[test]
fn enter_sends_the_prompt_and_starts_an_answer() {
    let mut app = App::new("gemini-flash-latest", false);
    typed(&mut app, "hello there");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(
        app.commands,
        [Command::Send {
            tab: 1,
            turn: 1,
            prompt: "hello there".into(),
            branch: Branch::Continue,
            attachments: Vec::new()
        }]
    );
    let tab = app.tab();
    assert!(tab.streaming && tab.input_is_empty());
    assert_eq!(tab.title, "hello there");
    assert_eq!(tab.messages.len(), 2);
    assert_eq!(tab.messages[1].status, MessageStatus::Streaming);
}

#[test]
fn text_streams_into_the_answer_and_a_restart_replaces_it() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("partial ".into()) });
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Restart });
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("whole".into()) });
    assert_eq!(app.tab().messages[1].text, "whole");
    app.on_event(AppEvent::TurnDone { turn: 1, report: report("whole", Outcome::Complete) });
    let tab = app.tab();
    assert!(!tab.streaming);
    assert_eq!((tab.messages[1].status, tab.conversation_id), (MessageStatus::Complete, Some(7)));
}

#[test]
fn esc_stops_the_answer_which_stays_marked_interrupted() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    app.commands.clear();
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!(app.commands, [Command::Cancel { tab: 1 }]);
    app.on_event(AppEvent::TurnDone { turn: 1, report: report("half", Outcome::Cancelled) });
    assert_eq!(
        (app.tab().messages[1].text.as_str(), app.tab().messages[1].status),
        ("half", MessageStatus::Interrupted)
    );
}

#[test]
fn an_error_lands_in_the_tab_that_caused_it() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    app.on_action(Action::NewTab);
    let error = ApiError::Server { status: 503, overloaded: true, retry_after: None };
    app.on_event(AppEvent::TurnDone { turn: 1, report: report("", Outcome::Failed(error.clone())) });
    assert_eq!(app.tabs[0].error.as_deref(), Some(error.to_string().as_str()));
    assert!(app.tabs[0].unread, "the tab in the background shows it");
    assert_eq!(app.tabs[1].error, None);
    assert_eq!(app.tabs[0].messages[1].status, MessageStatus::Error);
}

#[test]
fn a_retry_is_known_by_its_kind_not_its_wording() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    let notice = crate::chat::Notice::Retrying {
        attempt: 2,
        of: 3,
        after: std::time::Duration::from_secs(2),
        reason: ApiError::Server { status: 503, overloaded: true, retry_after: None },
    };
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(notice) });
    assert!(app.tab().retrying);
    let fallback = crate::chat::Notice::Fallback {
        from: "a".into(),
        to: "retrying-model".into(),
        reason: crate::engine::FallbackReason::QuotaSpent,
    };
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(fallback) });
    assert!(!app.tab().retrying, "a model named 'retrying' is not a retry");
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Text("back".into()) });
    assert!(!app.tab().retrying);
}

#[test]
fn a_dns_retry_shows_one_whole_sentence_in_the_tab() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    let reason = ApiError::Network { detail: "failed to lookup address information: no such host".into() };
    let after = std::time::Duration::from_millis(800);
    let notice = crate::chat::Notice::Retrying { attempt: 2, of: 5, after, reason };
    app.on_event(AppEvent::Turn { turn: 1, shown: Shown::Notice(notice) });
    assert_eq!(
        app.tab().notice.as_deref(),
        Some(
            "Could not reach Gemini (failed to lookup address information: no such host); retrying in 0.8s (attempt 2 of 5)."
        )
    );
}

#[test]
fn tabs_open_switch_and_close() {
    let mut app = App::new("m", false);
    app.on_action(Action::NewTab);
    app.on_action(Action::NewTab);
    assert_eq!((app.tabs.len(), app.active), (3, 2));
    app.on_action(Action::NextTab);
    assert_eq!(app.active, 0);
    app.on_action(Action::PrevTab);
    assert_eq!(app.active, 2);
    app.on_action(Action::GoToTab(1));
    assert_eq!(app.active, 1);
    app.on_action(Action::CloseTab);
    assert_eq!((app.tabs.len(), app.active), (2, 1));
    app.on_action(Action::CloseTab);
    app.on_action(Action::CloseTab);
    assert_eq!(app.tabs.len(), 1, "the last tab is replaced, never removed");
}

#[test]
fn the_history_browser_searches_as_you_type_and_opens_a_conversation() {
    let mut app = App::new("m", false);
    app.on_action(Action::OpenHistory);
    typed(&mut app, "mig");
    let searches: Vec<_> = app.commands.iter().filter(|c| matches!(c, Command::Search { .. })).collect();
    assert_eq!(searches.len(), 4, "one for opening and one per key");
    assert_eq!(searches[3], &Command::Search { query: "mig".into(), generation: 4 });
    let row = HistoryRow { conversation_id: 9, title: "birds".into(), updated_at: 0, snippet: None, messages: Some(2) };
    app.on_event(AppEvent::SearchResults { generation: 4, rows: Ok(vec![row]) });
    assert!(app.commands.contains(&Command::Preview { id: 9 }));
    app.on_terminal(key(KeyCode::Enter));
    assert!(app.commands.contains(&Command::Open { id: 9 }));
    assert_eq!(app.focus, Focus::Chat);
}

/// What another process saves shows up in the open browser: when the history's version moves,
/// the query runs again (quietly), and the conversation selected stays selected.
#[test]
fn the_open_history_browser_shows_what_another_process_saved() {
    let mut app = App::new("m", false);
    let row = |id: i64| HistoryRow {
        conversation_id: id,
        title: format!("t{id}"),
        updated_at: 0,
        snippet: None,
        messages: None,
    };
    app.on_action(Action::OpenHistory);
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(2), row(1)]) });
    app.on_terminal(key(KeyCode::Down));
    assert_eq!(app.history.selected_id(), Some(1));
    app.commands.clear();
    let searches = |app: &App| app.commands.iter().filter(|c| matches!(c, Command::Search { .. })).count();
    app.on_event(AppEvent::HistoryVersion(5));
    app.on_event(AppEvent::HistoryVersion(5));
    assert_eq!(searches(&app), 0, "the first version read, then nothing new");
    app.on_event(AppEvent::HistoryVersion(6));
    assert_eq!(app.commands, [Command::Search { query: String::new(), generation: app.history.generation }]);
    assert!(!app.history.loading, "a refresh does not say it searches");
    // A served request saved conversation 3: it comes first, and 1 is still the one selected.
    app.on_event(AppEvent::SearchResults {
        generation: app.history.generation,
        rows: Ok(vec![row(3), row(2), row(1)]),
    });
    assert_eq!((app.history.selected, app.history.selected_id()), (2, Some(1)));
    // Closed, the browser forgets the version: reopened, it starts from what it reads then.
    app.on_terminal(key(KeyCode::Esc));
    app.commands.clear();
    app.on_event(AppEvent::HistoryVersion(7));
    app.on_action(Action::OpenHistory);
    app.commands.clear();
    app.on_event(AppEvent::HistoryVersion(8));
    assert_eq!(searches(&app), 0, "{:?}", app.commands);
}

#[test]
fn the_preview_never_shows_a_conversation_that_is_not_the_selected_result() {
    let mut app = App::new("m", false);
    app.on_action(Action::OpenHistory);
    typed(&mut app, "bird");
    let row = |id: i64| HistoryRow {
        conversation_id: id,
        title: format!("t{id}"),
        updated_at: 0,
        snippet: None,
        messages: None,
    };
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(9), row(4)]) });
    app.on_event(AppEvent::Preview { id: 9, messages: Vec::new() });
    assert_eq!(app.history.preview.as_ref().map(|p| p.0), Some(9));

    typed(&mut app, "z");
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(Vec::new()) });
    assert_eq!(app.history.preview, None, "no match: nothing previewed");

    app.on_terminal(key(KeyCode::Backspace));
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(9)]) });
    app.on_event(AppEvent::Preview { id: 9, messages: Vec::new() });
    typed(&mut app, "(");
    let failed = Err("The search failed.".to_owned());
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: failed });
    assert_eq!(app.history.preview, None, "an error: nothing previewed");

    app.on_terminal(key(KeyCode::Backspace));
    app.commands.clear();
    app.on_event(AppEvent::SearchResults { generation: app.history.generation, rows: Ok(vec![row(4), row(9)]) });
    assert_eq!(app.history.preview, None, "another conversation on top: the old preview goes");
    assert_eq!(app.commands, [Command::Preview { id: 4 }]);
    app.on_event(AppEvent::Preview { id: 4, messages: Vec::new() });
    app.commands.clear();
    app.on_terminal(key(KeyCode::PageDown));
    assert_eq!((app.history.selected_id(), app.history.preview.as_ref().map(|p| p.0)), (Some(9), None));
    assert_eq!(app.commands, [Command::Preview { id: 9 }], "scrolling asks for the new one");
}

#[test]
fn deleting_asks_first() {
    let mut app = App::new("m", false);
    app.on_action(Action::OpenHistory);
    let g = app.history.generation;
    app.on_event(AppEvent::SearchResults {
        generation: g,
        rows: Ok(vec![HistoryRow {
            conversation_id: 3,
            title: "t".into(),
            updated_at: 0,
            snippet: None,
            messages: None,
        }]),
    });
    app.commands.clear();
    app.on_terminal(key(KeyCode::Delete));
    assert_eq!(app.focus, Focus::Confirm);
    app.on_terminal(key(KeyCode::Char('n')));
    assert!(app.commands.is_empty());
    app.on_terminal(key(KeyCode::Delete));
    app.on_terminal(key(KeyCode::Char('y')));
    assert_eq!(app.commands, [Command::Delete { id: 3 }]);
}

#[test]
fn copy_works_on_the_last_answer_and_its_code() {
    let mut app = App::new("m", false);
    typed(&mut app, "show code");
    app.on_terminal(key(KeyCode::Enter));
    app.on_event(AppEvent::TurnDone {
        turn: 1,
        report: report("Here:\n```rust\nfn main() {}\n```\n", Outcome::Complete),
    });
    app.commands.clear();
    app.on_action(Action::CopyCode);
    assert_eq!(app.commands, [Command::Copy { text: "fn main() {}".into() }]);
    // The flash says where the text went once it has gone, or why it did not.
    app.on_event(AppEvent::Copied(Ok(Via::System)));
    assert_eq!(app.flash(), Some("Copied the last code block (12 characters) to the system clipboard."));
    app.on_action(Action::CopyAnswer);
    app.on_event(AppEvent::Copied(Ok(Via::TerminalInstead("no display".into()))));
    assert_eq!(
        app.flash(),
        Some(
            "Copied the last answer (31 characters) through the terminal (OSC 52): the system clipboard failed (no display)."
        )
    );
    app.on_action(Action::CopyAnswer);
    app.on_event(AppEvent::Copied(Err("Nothing was copied: the terminal could not be written.".into())));
    assert_eq!(app.flash(), Some("Nothing was copied: the terminal could not be written."));
}

#[test]
fn ctrl_g_replaces_the_last_answer_and_keeps_the_old_one_as_an_alternative() {
    let mut app = conversation(2);
    app.on_terminal(ctrl('g'));
    assert_eq!(
        app.commands,
        [Command::Send {
            tab: 1,
            turn: 3,
            prompt: "question 1".into(),
            branch: Branch::Regenerate { prompt_id: 3 },
            attachments: Vec::new()
        }]
    );
    let tab = app.tab();
    let texts: Vec<&str> = tab.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["question 0", "answer 0", "question 1", ""], "one answer to the prompt, being written");
    assert_eq!(tab.messages[3].alternatives, Alternatives { index: 2, count: 2 });
    app.on_event(AppEvent::TurnDone { turn: 3, report: report_ids("again", Outcome::Complete, 3, 5) });
    assert_eq!((app.tab().messages[3].id, app.tab().messages.len()), (Some(5), 4));
}

#[test]
fn an_edited_earlier_prompt_starts_a_branch_from_it() {
    let mut app = conversation(2);
    app.on_terminal(alt(KeyCode::Up));
    assert_eq!((app.focus, app.tab().selected), (Focus::Messages, Some(3)));
    for _ in 0..3 {
        app.on_terminal(key(KeyCode::Up));
    }
    assert_eq!(app.tab().selected, Some(0));
    app.on_terminal(key(KeyCode::Char('e')));
    assert_eq!((app.focus, app.tab().input_text().as_str()), (Focus::Chat, "question 0"));
    typed(&mut app, " in spring");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(
        app.commands,
        [Command::Send {
            tab: 1,
            turn: 3,
            prompt: "question 0 in spring".into(),
            branch: Branch::Edit { prompt_id: 1 },
            attachments: Vec::new()
        }]
    );
    let tab = app.tab();
    assert_eq!(tab.messages.len(), 2, "the old continuation is no longer shown");
    assert_eq!(tab.messages[0].text, "question 0 in spring");
    assert_eq!(tab.messages[0].alternatives, Alternatives { index: 2, count: 2 });
    assert!(tab.editing.is_none() && tab.input_is_empty());
}

#[test]
fn the_launch_role_is_every_new_tabs_until_role_changes_one() {
    let mut app = App::new("gemini-flash-latest", false);
    app.default_system = Some("be brief".into());
    app.roles = vec![crate::chat::NamedRole {
        name: "reviewer".into(),
        prompt: Some("You review code.".into()),
        model: Some("gemini-2.5-pro".into()),
        settings: Default::default(),
        fallback: Vec::new(),
        tools: None,
        source: crate::chat::RoleSource::File("roles/reviewer.md".into()),
    }];
    app.use_launch_role("reviewer");
    let shows = |app: &App| (app.tab().role.clone(), app.tab().system.clone(), app.tab().model.clone());
    let reviewer = (Some("reviewer".to_owned()), Some("You review code.".to_owned()), "gemini-2.5-pro".to_owned());
    assert_eq!(shows(&app), reviewer);
    typed(&mut app, "/role none");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().role, None);
    assert_eq!(app.tab().system.as_deref(), Some("be brief"));
    app.on_terminal(ctrl('t'));
    assert_eq!(shows(&app), reviewer, "a new tab starts with the launch role");
    app.on_terminal(ctrl('w'));
    app.on_terminal(ctrl('w'));
    assert_eq!(app.tabs.len(), 1);
    assert_eq!(shows(&app), reviewer, "closing the last tab leaves a fresh one, as launched");
}

#[test]
fn editing_a_prompt_a_template_role_filled_in_offers_what_was_typed() {
    let mut app = conversation(1);
    app.roles = vec![crate::chat::NamedRole {
        name: "french".into(),
        prompt: Some("Translate into French:\n{{input}}".into()),
        model: None,
        settings: Default::default(),
        fallback: Vec::new(),
        tools: None,
        source: crate::chat::RoleSource::File("roles/french.md".into()),
    }];
    // As a reopened conversation shows it: the prompt as sent, filled in.
    app.tab_mut().messages[0].text = "Translate into French:\ngood morning".into();
    app.tab_mut().role = Some("french".into());
    app.on_terminal(ctrl('e'));
    assert_eq!(app.tab().input_text(), "good morning");
    typed(&mut app, " to you");
    app.on_terminal(key(KeyCode::Enter));
    assert!(
        matches!(&app.commands[0], Command::Send { prompt, .. } if prompt == "good morning to you"),
        "sending fills it in once: {:?}",
        app.commands
    );
}

#[test]
fn an_unsent_draft_survives_an_edit_sent_or_cancelled() {
    let mut app = conversation(1);
    typed(&mut app, "my half-written thought");
    app.on_terminal(ctrl('e'));
    assert_eq!(app.tab().input_text(), "question 0");
    assert!(app.flash().unwrap().contains("draft is kept"), "{:?}", app.flash());
    app.on_terminal(key(KeyCode::Esc));
    assert_eq!(app.tab().input_text(), "my half-written thought", "Esc brings the draft back");
    assert!(app.commands.is_empty(), "Esc while editing stops nothing");
    app.on_terminal(ctrl('e'));
    typed(&mut app, "!");
    app.on_terminal(key(KeyCode::Enter));
    assert!(matches!(app.commands[0], Command::Send { branch: Branch::Edit { prompt_id: 1 }, .. }));
    assert_eq!(app.tab().input_text(), "my half-written thought", "sending the edit brings the draft back");
}

#[test]
fn alt_brackets_browse_the_alternatives_of_the_last_answer() {
    let mut app = conversation(1);
    app.on_terminal(alt(KeyCode::Char(']')));
    assert!(app.commands.is_empty());
    assert!(app.flash().unwrap().contains("no alternatives"), "{:?}", app.flash());
    app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
    app.on_terminal(alt(KeyCode::Char('[')));
    assert_eq!(app.commands, [Command::SwitchAlternative { tab: 1, message_id: 2, step: -1 }]);
    let stored = |id, role, text: &str, index| StoredMessage {
        id,
        conversation_id: 7,
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
        alternatives: Alternatives { index, count: 2 },
        attachments: Vec::new(),
        cost: Default::default(),
    };
    app.tab_mut().conversation_id = Some(7);
    app.on_event(AppEvent::Reloaded {
        tab: 1,
        conversation_id: 7,
        messages: vec![stored(1, Role::User, "question 0", 1), stored(9, Role::Model, "the first answer", 1)],
        chosen: 9,
    });
    assert_eq!(app.tab().messages[1].text, "the first answer");
    assert_eq!(app.flash(), Some("Answer 1 of 2."));
    typed(&mut app, "a [b]");
    assert_eq!(app.tab().input_text(), "a [b]", "brackets typed into a prompt are text");
}

#[test]
fn a_prompt_starting_with_a_bracket_or_question_mark_is_typed_whole_and_switches_nothing() {
    for prompt in ["[note] remember this", "[1,2,3] sort these", "]", "? what is this"] {
        let mut app = conversation(1);
        app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
        typed(&mut app, prompt);
        assert_eq!(app.tab().input_text(), prompt);
        assert_eq!(app.focus, Focus::Chat, "no help or other window opened");
        app.on_terminal(key(KeyCode::Enter));
        assert!(
            !app.commands.iter().any(|c| matches!(c, Command::SwitchAlternative { .. })),
            "{prompt}: {:?}",
            app.commands
        );
        assert!(
            matches!(&app.commands[..], [Command::Send { prompt: sent, .. }] if sent == prompt),
            "{:?}",
            app.commands
        );
    }
    // With a message selected, plain [ and ] still browse its alternatives.
    let mut app = conversation(1);
    app.tab_mut().messages[1].alternatives = Alternatives { index: 2, count: 2 };
    app.on_terminal(alt(KeyCode::Up));
    app.on_terminal(key(KeyCode::Char('[')));
    assert_eq!(app.commands, [Command::SwitchAlternative { tab: 1, message_id: 2, step: -1 }]);
}

#[test]
fn nothing_branches_while_an_answer_is_written() {
    let mut app = conversation(1);
    typed(&mut app, "next");
    app.on_terminal(key(KeyCode::Enter));
    app.commands.clear();
    app.on_terminal(ctrl('g'));
    app.on_terminal(ctrl('e'));
    assert!(app.commands.is_empty());
    assert!(app.flash().unwrap().contains("still being written"));
}

#[test]
fn a_conversation_lives_in_one_tab() {
    let mut app = conversation(1);
    app.tab_mut().conversation_id = Some(7);
    app.on_action(Action::NewTab);
    app.on_action(Action::OpenHistory);
    let g = app.history.generation;
    let row = HistoryRow { conversation_id: 7, title: "q".into(), updated_at: 0, snippet: None, messages: None };
    app.on_event(AppEvent::SearchResults { generation: g, rows: Ok(vec![row]) });
    app.commands.clear();
    app.on_terminal(key(KeyCode::Enter));
    assert!(!app.commands.iter().any(|c| matches!(c, Command::Open { .. })), "{:?}", app.commands);
    assert_eq!((app.active, app.tabs.len()), (0, 2), "its tab is focused");
    // Deleting it closes its tab...
    app.on_event(AppEvent::Deleted { id: 7 });
    assert_eq!(app.tabs.len(), 1);
    assert!(app.tabs.iter().all(|t| t.conversation_id != Some(7)));
    // ...or, with a draft in it, keeps the draft in a fresh tab.
    let mut app = conversation(1);
    app.tab_mut().conversation_id = Some(7);
    typed(&mut app, "unsent");
    app.on_event(AppEvent::Deleted { id: 7 });
    let tab = app.tab();
    assert_eq!((tab.conversation_id, tab.messages.len(), tab.input_text().as_str()), (None, 0, "unsent"));
    assert!(tab.notice.as_deref().unwrap().contains("deleted"));
}

#[test]
fn system_prompts_are_set_per_tab() {
    let mut app = App::new("m", false);
    typed(&mut app, "/system answer in French");
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(app.tab().system.as_deref(), Some("answer in French"));
    assert!(app.commands.is_empty(), "a command is not a prompt");
}

#[test]
fn pasted_text_goes_into_the_prompt_whole() {
    let mut app = App::new("m", false);
    app.on_terminal(Event::Paste("line one\r\nline two".into()));
    assert_eq!(app.tab().input_text(), "line one\nline two");
}

/// Issue 20: a conversation deleted in the history browser while its first answer streams.
/// The tab knew no conversation until the answer ended, so the delete passed it by, the
/// cancelled turn's late "done" gave it the deleted id, and the next prompt failed and was
/// lost. Now the saved prompt names the conversation at once, and events of a turn the tab
/// no longer runs land nowhere.
#[test]
fn a_conversation_deleted_while_its_first_answer_streams_never_takes_the_next_prompt() {
    let mut app = App::new("m", false);
    typed(&mut app, "first question");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.expect("a turn runs");
    app.on_event(AppEvent::Turn { turn, shown: Shown::Saved { conversation_id: 10, prompt_id: 1 } });
    assert_eq!(app.tab().conversation_id, Some(10), "known as soon as the prompt is saved");
    assert_eq!(app.tab().messages[0].id, Some(1));
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("Half an ans".into()) });
    typed(&mut app, "a draft typed meanwhile");
    app.commands.clear();
    app.on_event(AppEvent::Deleted { id: 10 });
    assert!(app.commands.contains(&Command::Cancel { tab: 1 }), "its answer is stopped: {:?}", app.commands);
    // The stopped turn's last words arrive late, naming the deleted conversation.
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("swer".into()) });
    let mut late = report_ids("Half an answer", Outcome::Cancelled, 1, 2);
    late.conversation_id = Some(10);
    app.on_event(AppEvent::TurnDone { turn, report: late });
    let tab = app.tab();
    assert_eq!(
        (tab.conversation_id, tab.messages.len(), tab.streaming, tab.input_text().as_str()),
        (None, 0, false, "a draft typed meanwhile"),
        "nothing of the stopped turn landed"
    );
    assert!(tab.notice.as_deref().is_some_and(|n| n.contains("Conversation 10 was deleted")), "{:?}", tab.notice);
    app.commands.clear();
    app.on_terminal(key(KeyCode::Enter));
    assert_eq!(
        app.commands,
        [Command::Send {
            tab: 1,
            turn: turn + 1,
            prompt: "a draft typed meanwhile".into(),
            branch: Branch::Continue,
            attachments: Vec::new()
        }]
    );
    assert_eq!(app.tab().conversation_id, None, "the draft starts a new conversation");
}

/// A turn replaced by a newer one in the same tab (stopped, then a new prompt sent before the
/// old one reported back) never writes into the newer one.
#[test]
fn a_late_event_of_an_earlier_turn_never_lands_in_the_turn_after_it() {
    let mut app = conversation(1);
    typed(&mut app, "slow one");
    app.on_terminal(key(KeyCode::Enter));
    let old = app.tab().turn.unwrap();
    app.on_terminal(key(KeyCode::Esc));
    // The stop is reported as failed to start (say, the budget check raced it); a newer
    // turn begins before the old turn's own words arrive.
    app.on_event(AppEvent::TurnFailedToStart { turn: old, message: "Stopped.".into() });
    typed(&mut app, "fast one");
    app.on_terminal(key(KeyCode::Enter));
    let new = app.tab().turn.unwrap();
    assert_ne!(old, new, "turn ids are never reused");
    app.on_event(AppEvent::Turn { turn: old, shown: Shown::Text("stale words".into()) });
    app.on_event(AppEvent::TurnDone { turn: old, report: report_ids("stale words", Outcome::Complete, 9, 9) });
    let tab = app.tab();
    assert!(tab.streaming, "the newer turn still runs");
    assert_eq!(tab.messages.last().unwrap().text, "", "no stale text in the newer answer");
    app.on_event(AppEvent::Turn { turn: new, shown: Shown::Text("fresh".into()) });
    assert_eq!(app.tab().messages.last().unwrap().text, "fresh");
}

/// Issue 20: the conversation a tab shows was deleted by another process. Sending finds it
/// gone before anything reaches the model: the prompt comes back into the input, the tab
/// says so, and the next prompt starts a new conversation.
#[test]
fn a_prompt_for_a_conversation_deleted_elsewhere_comes_back_unsent() {
    let mut app = conversation(1);
    assert_eq!(app.tab().conversation_id, Some(7));
    typed(&mut app, "and then?");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    assert!(matches!(&app.commands[..], [Command::Send { prompt, .. }] if prompt == "and then?"));
    typed(&mut app, "more");
    let note = Attachment {
        info: crate::domain::AttachmentInfo {
            name: "n.txt".into(),
            mime: "text/plain".into(),
            size: 1,
            sha256: "ab".into(),
        },
        data: crate::attach::AttachmentData::Bytes(vec![b'x'].into()),
        path: None,
        remote: None,
    };
    app.on_event(AppEvent::ConversationGone {
        turn,
        conversation_id: 7,
        prompt: Some("and then?".into()),
        attachments: vec![note.clone()],
    });
    let tab = app.tab();
    assert_eq!(tab.input_text(), "and then?\nmore", "the prompt, then what was typed since");
    assert_eq!((tab.conversation_id, tab.messages.len(), tab.streaming), (None, 0, false));
    assert_eq!(tab.pending, [note], "its attachment is kept for the next prompt");
    let said = tab.error.clone().unwrap();
    assert!(said.starts_with("Conversation 7 was deleted; your prompt was not sent"), "{said}");
    app.commands.clear();
    app.on_terminal(key(KeyCode::Enter));
    match &app.commands[..] {
        [Command::Send { turn: next, prompt, branch: Branch::Continue, attachments, .. }] => {
            assert_eq!((*next, prompt.as_str(), attachments.len()), (turn + 1, "and then?\nmore", 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((app.tab().conversation_id, app.tab().error.as_ref()), (None, None));
}

/// Issue 20: an answer streaming when another process deleted its conversation. Its final
/// save finds nothing to write into: the answer stays on screen, the tab says it was not
/// saved, and the next prompt starts a new conversation without it.
#[test]
fn an_answer_whose_conversation_was_deleted_while_it_streamed_is_said_unsaved() {
    let mut app = conversation(1);
    typed(&mut app, "next");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::Turn { turn, shown: Shown::Text("An answer nobody saved".into()) });
    let mut done = report_ids("An answer nobody saved", Outcome::Complete, 3, 4);
    done.save_error = Some(crate::store::StoreError::NoConversation { id: 7 });
    app.on_event(AppEvent::TurnDone { turn, report: done });
    let tab = app.tab();
    assert_eq!(tab.messages.last().unwrap().text, "An answer nobody saved", "still shown");
    assert_eq!(tab.conversation_id, None);
    let said = tab.error.clone().unwrap();
    assert!(said.starts_with("Conversation 7 was deleted while this answer was written"), "{said}");
    app.commands.clear();
    typed(&mut app, "new question");
    app.on_terminal(key(KeyCode::Enter));
    assert!(matches!(&app.commands[..], [Command::Send { branch: Branch::Continue, .. }]), "{:?}", app.commands);
    let texts: Vec<&str> = app.tab().messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["new question", ""], "the unsaved conversation is not continued");
    assert_eq!(app.tab().conversation_id, None);
}

/// Issue 20 item 3: the tab that was active comes back active, wherever it stood.
#[test]
fn the_active_tab_comes_back_active_wherever_it_stood() {
    let tab = |draft: &str, active| Restored { conversation: None, draft: draft.into(), active };
    let mut app = App::new("m", false);
    app.restore(vec![tab("one", false), tab("two", true), tab("three", false)]);
    assert_eq!((app.active, app.tab().input_text().as_str()), (1, "two"));
    let kept: Vec<bool> = app.open_tabs().iter().map(|t| t.active).collect();
    assert_eq!(kept, [false, true, false]);
}

/// Every command of the one table, by its name and by each alias, is a command to the interface
/// (never "not a command", never sent) and is in its help; one the table keeps for after an
/// answer is refused while one is written, and stays in the prompt.
#[test]
fn every_command_in_the_table_is_taken_by_the_interface_and_shown_by_its_help() {
    let waiting = "An answer is still being written: wait, or press Esc to stop it.";
    let (help, _) = crate::tui::overlay::help::help_lines(&App::new("m", false).theme, 200);
    let help: Vec<String> = help.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
    for command in crate::commands::COMMANDS {
        assert!(
            help.iter().any(|l| l.trim_start().starts_with(&format!("{} ", command.name))),
            "{} is in the help: {help:#?}",
            command.name
        );
        for word in std::iter::once(&command.name).chain(command.aliases) {
            let mut app = App::new("m", false);
            enter(&mut app, word);
            let said = app.flash().unwrap_or_default().to_owned();
            assert!(!said.contains("is not a command"), "{word}: {said}");
            assert!(!app.commands.iter().any(|c| matches!(c, Command::Send { .. })), "{word} was sent");

            let mut app = answering();
            app.commands.clear();
            enter(&mut app, word);
            let refused = app.flash() == Some(waiting);
            assert_eq!(refused, !command.while_streaming, "{word} while an answer is written");
            if refused {
                assert_eq!(app.tab().input_text(), *word, "{word} stays in the prompt");
            }
            assert!(!app.commands.iter().any(|c| matches!(c, Command::Send { .. })), "{word} was sent");
        }
    }
}

/// `/new`, the line chat's word for a new conversation, is an alias of `/clear` here too.
#[test]
fn an_alias_does_what_its_command_does() {
    let mut app = App::new("m", false);
    typed(&mut app, "q");
    app.on_terminal(key(KeyCode::Enter));
    let turn = app.tab().turn.unwrap();
    app.on_event(AppEvent::TurnDone { turn, report: report("a", Outcome::Complete) });
    assert_eq!(app.tab().messages.len(), 2);
    enter(&mut app, "/new");
    assert!(app.tab().messages.is_empty(), "a new conversation");
    assert_eq!(app.flash(), Some("A new conversation; the last one is in the history (Ctrl-R)."));
}
