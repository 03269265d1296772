//! Key bindings: a key press becomes an [`Action`], so every binding is a unit test without a
//! terminal. What the keys do is decided in `app` and the overlay that has them (`overlay/`);
//! this file only names them.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where keys go at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The conversation and its input.
    Chat,
    /// A message of the conversation is selected (keys act on it).
    Messages,
    History,
    Help,
    ModelPicker,
    /// Finding text in the open conversation (Ctrl-F).
    Find,
    /// A yes/no question is open.
    Confirm,
    /// The active tab's turn waits for the user's word on tool calls: y, n, a and Esc answer,
    /// nothing typed is text (`overlay/approve`).
    Approve,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Send,
    Newline,
    NewTab,
    CloseTab,
    NextTab,
    PrevTab,
    GoToTab(usize),
    /// Stop the answer being written (or close an overlay).
    Stop,
    /// Answer the prompt again (the selected one, else the last): the new answer replaces the
    /// one shown, which stays as an alternative.
    Regenerate,
    /// Edit a prompt (the selected one, else the last); sending it starts a branch.
    Edit,
    /// Select messages with the keyboard (starting from the last one).
    SelectMessages,
    /// Show the previous (-1) or next (+1) alternative of the selected message, else of the last answer.
    Alternative(isize),
    CopyAnswer,
    CopyCode,
    /// Fold or unfold the thoughts above the selected answer.
    ToggleThoughts,
    OpenHistory,
    OpenHelp,
    OpenModels,
    /// Switch between the dark and the light theme.
    ToggleTheme,
    /// Take the mouse, or leave it to the terminal's own text selection.
    ToggleMouse,
    /// Find text in the open conversation.
    OpenFind,
    ScrollUp(usize),
    ScrollDown(usize),
    ScrollTop,
    ScrollBottom,
    Up,
    Down,
    Select,
    Delete,
    Yes,
    No,
    /// `a` on the approval line: run this call, and this tool's later calls in the conversation.
    Always,
    /// Ctrl-C with text in the prompt: empty it (Ctrl-Z brings the text back).
    ClearInput,
    /// Ctrl-U: delete from the cursor to the start of the line (as in a shell).
    DeleteToLineStart,
    /// Ctrl-X: write the prompt in `$VISUAL` / `$EDITOR`.
    OpenEditor,
    /// Ctrl-Z / Ctrl-Shift-Z: undo / redo the last change to the prompt.
    Undo,
    Redo,
    /// Anything else goes to the text input of the current focus.
    Input(KeyEvent),
    Ignore,
}

/// The list of bindings shown in the help overlay, in order.
pub const HELP: &[(&str, &str)] = &[
    ("Enter", "send the prompt"),
    ("Alt-Enter / Shift-Enter", "new line in the prompt"),
    ("Esc", "stop the answer being written; close a window"),
    ("Ctrl-T / Ctrl-W", "new tab / close tab (asks if work would be lost)"),
    ("Ctrl-← / Ctrl-→, Alt-1..9", "switch tabs (or click one)"),
    ("PgUp / PgDn, wheel", "scroll the conversation"),
    ("Home / End", "top / bottom (when the prompt is empty)"),
    ("Ctrl-G", "regenerate the last answer (the old one is kept)"),
    ("Ctrl-E", "edit the last prompt: Enter sends it as a branch"),
    ("Alt-[ / Alt-], Alt-, / Alt-.", "previous / next alternative of the last answer"),
    ("Alt-↑ / Ctrl-↑", "select a message: ↑↓ e r [ ] y, c code, t thoughts, Esc"),
    ("Enter / t on a tool cell", "unfold or fold a tool call or its result"),
    ("y / n / a / Esc", "tool call waiting: run, refuse, always this tool, stop"),
    ("Ctrl-Y / Alt-Y", "copy the last answer / its last code block"),
    ("Ctrl-R", "history: search, reopen, delete conversations"),
    ("Ctrl-F", "find in this conversation: Enter / ↑ earlier, ↓ later, Esc"),
    ("F2 / F3", "this tab's model / dark or light theme"),
    ("F4", "leave the mouse to the terminal's selection, or take it"),
    ("/", "a command (listed below; Tab completes)"),
    ("F1", "this help"),
    ("Ctrl-U / Ctrl-K, Alt-⌫", "prompt: delete to line start / end, word before"),
    ("Ctrl-Z / Ctrl-Shift-Z", "prompt: undo / redo"),
    ("Ctrl-X", "write the prompt in $VISUAL / $EDITOR"),
    ("↑ / ↓", "in an empty prompt: earlier prompts"),
    ("Ctrl-C / Ctrl-Q", "clear the prompt (Ctrl-Z undoes) / quit (asks once)"),
];

/// Maps a key press to an action for the current focus. `input_empty` tells whether the prompt
/// is empty (then Home and End act on the window instead of the text). Every printable
/// character typed in the prompt is text: commands there are on keys that cannot be text.
pub fn action_for(key: KeyEvent, focus: Focus, input_empty: bool) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::Ignore;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    match (key.code, ctrl) {
        // Ctrl-C never throws away a prompt being typed: it clears it (undoably) instead.
        (KeyCode::Char('c'), true) if focus == Focus::Chat && !input_empty => return Action::ClearInput,
        (KeyCode::Char('q' | 'c'), true) => return Action::Quit,
        (KeyCode::Char('r'), true) if matches!(focus, Focus::Chat | Focus::Messages) => return Action::OpenHistory,
        (KeyCode::Char('f'), true) if matches!(focus, Focus::Chat | Focus::Messages | Focus::Find) => {
            return Action::OpenFind;
        }
        (KeyCode::F(1), _) => return Action::OpenHelp,
        (KeyCode::F(3), _) => return Action::ToggleTheme,
        (KeyCode::F(4), _) => return Action::ToggleMouse,
        _ => {}
    }
    match focus {
        Focus::Help => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?') => Action::Stop,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::PageUp => Action::ScrollUp(10),
            KeyCode::PageDown => Action::ScrollDown(10),
            KeyCode::Home => Action::ScrollTop,
            KeyCode::End => Action::ScrollBottom,
            _ => Action::Ignore,
        },
        Focus::Confirm => match key.code {
            KeyCode::Char('y' | 'Y') => Action::Yes,
            // Ctrl-W again confirms closing the tab it asked about.
            KeyCode::Char('w') if ctrl => Action::CloseTab,
            _ => Action::No,
        },
        // Only these answer; the keys that cannot be text still switch, open and close tabs.
        Focus::Approve => match key.code {
            KeyCode::Char('y' | 'Y') if !ctrl && !alt => Action::Yes,
            KeyCode::Char('n' | 'N') if !ctrl && !alt => Action::No,
            KeyCode::Char('a' | 'A') if !ctrl && !alt => Action::Always,
            KeyCode::Esc => Action::Stop,
            KeyCode::Char('t') if ctrl => Action::NewTab,
            KeyCode::Char('w') if ctrl => Action::CloseTab,
            KeyCode::Right if ctrl => Action::NextTab,
            KeyCode::Left if ctrl => Action::PrevTab,
            KeyCode::Char(d @ '1'..='9') if alt => Action::GoToTab(d as usize - '1' as usize),
            KeyCode::Up if alt || ctrl => Action::SelectMessages,
            KeyCode::PageUp => Action::ScrollUp(0),
            KeyCode::PageDown => Action::ScrollDown(0),
            _ => Action::Ignore,
        },
        Focus::Find => match key.code {
            KeyCode::Esc => Action::Stop,
            KeyCode::Enter | KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            _ => Action::Input(key),
        },
        Focus::Messages => match key.code {
            KeyCode::Char('/') => Action::OpenFind,
            KeyCode::Esc => Action::Stop,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Home => Action::ScrollTop,
            KeyCode::End => Action::ScrollBottom,
            KeyCode::PageUp => Action::ScrollUp(0),
            KeyCode::PageDown => Action::ScrollDown(0),
            KeyCode::Char('[') => Action::Alternative(-1),
            KeyCode::Char(']') => Action::Alternative(1),
            KeyCode::Char(',') if alt => Action::Alternative(-1),
            KeyCode::Char('.') if alt => Action::Alternative(1),
            KeyCode::Char('e') | KeyCode::Enter => Action::Edit,
            KeyCode::Char('r') => Action::Regenerate,
            KeyCode::Char('g') if ctrl => Action::Regenerate,
            KeyCode::Char('y') => Action::CopyAnswer,
            KeyCode::Char('c') if !ctrl => Action::CopyCode,
            KeyCode::Char('t') if ctrl => Action::NewTab,
            KeyCode::Char('t') => Action::ToggleThoughts,
            KeyCode::Right if ctrl => Action::NextTab,
            KeyCode::Left if ctrl => Action::PrevTab,
            KeyCode::Char(d @ '1'..='9') if alt => Action::GoToTab(d as usize - '1' as usize),
            _ => Action::Input(key),
        },
        Focus::History | Focus::ModelPicker => match key.code {
            KeyCode::Esc => Action::Stop,
            KeyCode::Enter => Action::Select,
            KeyCode::Up => Action::Up,
            KeyCode::Down => Action::Down,
            KeyCode::PageUp => Action::ScrollUp(10),
            KeyCode::PageDown => Action::ScrollDown(10),
            KeyCode::Delete if focus == Focus::History => Action::Delete,
            KeyCode::Char('d') if ctrl && focus == Focus::History => Action::Delete,
            _ => Action::Input(key),
        },
        Focus::Chat => match key.code {
            KeyCode::Enter if alt || shift => Action::Newline,
            KeyCode::Enter => Action::Send,
            KeyCode::Esc => Action::Stop,
            KeyCode::Char('t') if ctrl => Action::NewTab,
            KeyCode::Char('w') if ctrl => Action::CloseTab,
            KeyCode::Char('g') if ctrl => Action::Regenerate,
            KeyCode::Char('e') if ctrl => Action::Edit,
            KeyCode::Char('u') if ctrl => Action::DeleteToLineStart,
            KeyCode::Char('x') if ctrl => Action::OpenEditor,
            KeyCode::Char('z' | 'Z') if ctrl && (shift || key.code == KeyCode::Char('Z')) => Action::Redo,
            KeyCode::Char('z') if ctrl => Action::Undo,
            KeyCode::Up if alt || ctrl => Action::SelectMessages,
            // Alt-[ arrives only from terminals that report keys unambiguously (ESC [ starts a
            // control sequence), so Alt-, / Alt-. (the < and > keys) do the same everywhere.
            KeyCode::Char('[' | ',') if alt => Action::Alternative(-1),
            KeyCode::Char(']' | '.') if alt => Action::Alternative(1),
            KeyCode::Char('y') if ctrl => Action::CopyAnswer,
            KeyCode::Char('y') if alt => Action::CopyCode,
            KeyCode::Char(d @ '1'..='9') if alt => Action::GoToTab(d as usize - '1' as usize),
            KeyCode::Right if ctrl => Action::NextTab,
            KeyCode::Left if ctrl => Action::PrevTab,
            KeyCode::F(2) => Action::OpenModels,
            KeyCode::PageUp => Action::ScrollUp(0),
            KeyCode::PageDown => Action::ScrollDown(0),
            KeyCode::Home if input_empty || ctrl => Action::ScrollTop,
            KeyCode::End if input_empty || ctrl => Action::ScrollBottom,
            _ => Action::Input(key),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn chat(code: KeyCode, modifiers: KeyModifiers) -> Action {
        action_for(key(code, modifiers), Focus::Chat, true)
    }

    #[test]
    fn enter_sends_and_alt_or_shift_enter_breaks_the_line() {
        assert_eq!(chat(KeyCode::Enter, KeyModifiers::NONE), Action::Send);
        assert_eq!(chat(KeyCode::Enter, KeyModifiers::ALT), Action::Newline);
        assert_eq!(chat(KeyCode::Enter, KeyModifiers::SHIFT), Action::Newline);
    }

    #[test]
    fn tabs_are_opened_closed_and_switched() {
        assert_eq!(chat(KeyCode::Char('t'), KeyModifiers::CONTROL), Action::NewTab);
        assert_eq!(chat(KeyCode::Char('w'), KeyModifiers::CONTROL), Action::CloseTab);
        assert_eq!(chat(KeyCode::Right, KeyModifiers::CONTROL), Action::NextTab);
        assert_eq!(chat(KeyCode::Left, KeyModifiers::CONTROL), Action::PrevTab);
        assert_eq!(chat(KeyCode::Char('3'), KeyModifiers::ALT), Action::GoToTab(2));
    }

    #[test]
    fn every_printable_character_is_text_in_the_prompt_even_when_it_is_empty() {
        for empty in [true, false] {
            for c in (' '..='~').chain(['é', '世', '🦀']) {
                for modifiers in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
                    let typed = key(KeyCode::Char(c), modifiers);
                    assert_eq!(action_for(typed, Focus::Chat, empty), Action::Input(typed), "{c:?} (empty: {empty})");
                }
            }
        }
        assert_eq!(chat(KeyCode::F(1), KeyModifiers::NONE), Action::OpenHelp);
    }

    #[test]
    fn the_approval_line_takes_y_n_a_and_esc_and_nothing_typed_is_text() {
        let on = |code, modifiers| action_for(key(code, modifiers), Focus::Approve, true);
        assert_eq!(on(KeyCode::Char('y'), KeyModifiers::NONE), Action::Yes);
        assert_eq!(on(KeyCode::Char('Y'), KeyModifiers::SHIFT), Action::Yes);
        assert_eq!(on(KeyCode::Char('n'), KeyModifiers::NONE), Action::No);
        assert_eq!(on(KeyCode::Char('a'), KeyModifiers::NONE), Action::Always);
        assert_eq!(on(KeyCode::Esc, KeyModifiers::NONE), Action::Stop);
        for c in (' '..='~').chain(['é', '世']).filter(|c| !"yYnNaA".contains(*c)) {
            assert_eq!(on(KeyCode::Char(c), KeyModifiers::NONE), Action::Ignore, "{c:?}");
        }
        assert_eq!(on(KeyCode::Enter, KeyModifiers::NONE), Action::Ignore, "Enter is no answer");
        assert_eq!(on(KeyCode::Char('y'), KeyModifiers::CONTROL), Action::Ignore);
        assert_eq!(on(KeyCode::Right, KeyModifiers::CONTROL), Action::NextTab);
        assert_eq!(on(KeyCode::Char('2'), KeyModifiers::ALT), Action::GoToTab(1));
        assert_eq!(on(KeyCode::Char('w'), KeyModifiers::CONTROL), Action::CloseTab);
        assert_eq!(on(KeyCode::Char('q'), KeyModifiers::CONTROL), Action::Quit);
    }

    #[test]
    fn home_and_end_scroll_only_when_the_prompt_is_empty() {
        assert_eq!(chat(KeyCode::Home, KeyModifiers::NONE), Action::ScrollTop);
        let home = key(KeyCode::Home, KeyModifiers::NONE);
        assert_eq!(action_for(home, Focus::Chat, false), Action::Input(home));
        assert_eq!(action_for(key(KeyCode::End, KeyModifiers::CONTROL), Focus::Chat, false), Action::ScrollBottom);
    }

    #[test]
    fn esc_stops_and_ctrl_r_opens_history_and_ctrl_q_quits_everywhere() {
        assert_eq!(chat(KeyCode::Esc, KeyModifiers::NONE), Action::Stop);
        assert_eq!(chat(KeyCode::Char('r'), KeyModifiers::CONTROL), Action::OpenHistory);
        for focus in [Focus::Chat, Focus::History, Focus::Help, Focus::ModelPicker, Focus::Confirm] {
            assert_eq!(action_for(key(KeyCode::Char('q'), KeyModifiers::CONTROL), focus, true), Action::Quit);
        }
    }

    #[test]
    fn a_selected_message_takes_its_own_keys_and_brackets_are_text_in_a_prompt() {
        let on = |code, modifiers| action_for(key(code, modifiers), Focus::Messages, true);
        assert_eq!(chat(KeyCode::Up, KeyModifiers::ALT), Action::SelectMessages);
        assert_eq!(chat(KeyCode::Up, KeyModifiers::CONTROL), Action::SelectMessages);
        assert_eq!(on(KeyCode::Up, KeyModifiers::NONE), Action::Up);
        assert_eq!(on(KeyCode::Char('e'), KeyModifiers::NONE), Action::Edit);
        assert_eq!(on(KeyCode::Char('r'), KeyModifiers::NONE), Action::Regenerate);
        assert_eq!(on(KeyCode::Char('['), KeyModifiers::NONE), Action::Alternative(-1));
        assert_eq!(on(KeyCode::Char('2'), KeyModifiers::ALT), Action::GoToTab(1));
        assert_eq!(on(KeyCode::Char('r'), KeyModifiers::CONTROL), Action::OpenHistory);
        assert_eq!(on(KeyCode::Esc, KeyModifiers::NONE), Action::Stop);
        assert_eq!(on(KeyCode::Char(']'), KeyModifiers::NONE), Action::Alternative(1));
        assert_eq!(on(KeyCode::Char('.'), KeyModifiers::ALT), Action::Alternative(1));
        // In the prompt, alternatives are on keys that cannot be text.
        assert_eq!(chat(KeyCode::Char('['), KeyModifiers::ALT), Action::Alternative(-1));
        assert_eq!(chat(KeyCode::Char(']'), KeyModifiers::ALT), Action::Alternative(1));
        assert_eq!(chat(KeyCode::Char(','), KeyModifiers::ALT), Action::Alternative(-1));
        assert_eq!(chat(KeyCode::Char('.'), KeyModifiers::ALT), Action::Alternative(1));
        let typed = key(KeyCode::Char(']'), KeyModifiers::NONE);
        assert_eq!(action_for(typed, Focus::Chat, true), Action::Input(typed));
    }

    #[test]
    fn ctrl_c_clears_a_typed_prompt_and_quits_from_an_empty_one() {
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c, Focus::Chat, false), Action::ClearInput);
        assert_eq!(action_for(ctrl_c, Focus::Chat, true), Action::Quit);
        assert_eq!(action_for(ctrl_c, Focus::History, false), Action::Quit);
        assert_eq!(action_for(key(KeyCode::Char('q'), KeyModifiers::CONTROL), Focus::Chat, false), Action::Quit);
    }

    #[test]
    fn line_editing_keys_mean_what_they_mean_in_a_shell() {
        let typing = |code, modifiers| action_for(key(code, modifiers), Focus::Chat, false);
        assert_eq!(typing(KeyCode::Char('u'), KeyModifiers::CONTROL), Action::DeleteToLineStart);
        assert_eq!(typing(KeyCode::Char('x'), KeyModifiers::CONTROL), Action::OpenEditor);
        assert_eq!(typing(KeyCode::Char('z'), KeyModifiers::CONTROL), Action::Undo);
        assert_eq!(typing(KeyCode::Char('z'), KeyModifiers::CONTROL | KeyModifiers::SHIFT), Action::Redo);
        assert_eq!(typing(KeyCode::Char('Z'), KeyModifiers::CONTROL | KeyModifiers::SHIFT), Action::Redo);
        // Ctrl-K, Ctrl-A and Alt-Backspace go to the text area, which gives them their shell meaning.
        for (code, modifiers) in [
            (KeyCode::Char('k'), KeyModifiers::CONTROL),
            (KeyCode::Char('a'), KeyModifiers::CONTROL),
            (KeyCode::Backspace, KeyModifiers::ALT),
        ] {
            assert_eq!(typing(code, modifiers), Action::Input(key(code, modifiers)));
        }
    }

    #[test]
    fn a_confirmation_takes_y_or_the_same_key_again() {
        let confirm = |code, modifiers| action_for(key(code, modifiers), Focus::Confirm, true);
        assert_eq!(confirm(KeyCode::Char('y'), KeyModifiers::NONE), Action::Yes);
        assert_eq!(confirm(KeyCode::Char('w'), KeyModifiers::CONTROL), Action::CloseTab);
        assert_eq!(confirm(KeyCode::Char('q'), KeyModifiers::CONTROL), Action::Quit);
        assert_eq!(confirm(KeyCode::Esc, KeyModifiers::NONE), Action::No);
    }

    #[test]
    fn the_history_browser_takes_typing_and_navigation() {
        let typed = key(KeyCode::Char('m'), KeyModifiers::NONE);
        assert_eq!(action_for(typed, Focus::History, true), Action::Input(typed));
        assert_eq!(action_for(key(KeyCode::Down, KeyModifiers::NONE), Focus::History, true), Action::Down);
        assert_eq!(action_for(key(KeyCode::Enter, KeyModifiers::NONE), Focus::History, true), Action::Select);
        assert_eq!(action_for(key(KeyCode::Delete, KeyModifiers::NONE), Focus::History, true), Action::Delete);
        assert_eq!(action_for(key(KeyCode::Char('y'), KeyModifiers::NONE), Focus::Confirm, true), Action::Yes);
        assert_eq!(action_for(key(KeyCode::Char('n'), KeyModifiers::NONE), Focus::Confirm, true), Action::No);
    }
}
