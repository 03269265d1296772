//! What a conversation does with its prompts and answers: Enter sends a prompt (or a command),
//! a turn starts with an id never reused, an answer is asked again or a prompt edited into a
//! new branch, alternatives are browsed, and answers and their code are copied.

use crate::attach::Attachment;
use crate::chat::{Branch, Role};
use crate::store::Alternatives;
use crate::tui::app::{App, Command};
use crate::tui::slash::Slash;
use crate::tui::tab::{ChatMessage, Editing, Tab};

impl App {
    /// Enter: commands (`/system`) or a prompt (an edited prompt starts a branch).
    pub(in crate::tui) fn send(&mut self) {
        let text = self.tab().input_text();
        let prompt = text.trim();
        if prompt.is_empty() {
            return;
        }
        let prompt = match crate::tui::slash::parse(prompt) {
            None => prompt.to_owned(),
            Some(Slash::Literal(text)) => text,
            Some(command) => {
                // A command the table keeps for after the answer says so and stays in the prompt.
                if self.tab().streaming && crate::tui::slash::command_of(prompt).is_some_and(|c| !c.while_streaming) {
                    self.say("An answer is still being written: wait, or press Esc to stop it.");
                    return;
                }
                return self.slash(command);
            }
        };
        let prompt = prompt.as_str();
        if self.tab().streaming {
            self.say("An answer is still being written: wait, or press Esc to stop it.");
            return;
        }
        // `@path` words that name files not attached yet are read first; the prompt goes after.
        let unread: Vec<std::path::PathBuf> = crate::tui::slash::at_paths(prompt)
            .into_iter()
            .filter(|p| {
                let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                !self.tab().pending.iter().any(|a| a.path.as_ref() == Some(&p))
            })
            .collect();
        if !unread.is_empty() {
            let tab = self.tab().id;
            self.commands.push(Command::Attach { tab, paths: unread, then_send: true });
            return;
        }
        let prompt = prompt.to_owned();
        let id = self.tab().id;
        let attachments = std::mem::take(&mut self.tab_mut().pending);
        self.tab_mut().recall = None;
        self.past_prompts.retain(|p| *p != prompt);
        self.past_prompts.insert(0, prompt.clone());
        let branch = match self.tab_mut().editing.take() {
            Some(Editing { prompt_id, draft }) => {
                // The draft put aside for the edit comes back.
                match draft {
                    Some(draft) => {
                        self.tab_mut().set_input(&draft);
                        self.say("Sent as a new branch; your unsent draft is back in the prompt.");
                    }
                    None => self.tab_mut().clear_input(),
                }
                Branch::Edit { prompt_id }
            }
            None => {
                self.tab_mut().clear_input();
                Branch::Continue
            }
        };
        self.start(id, prompt, branch, attachments);
    }

    pub(in crate::tui) fn start(&mut self, tab_id: u64, prompt: String, branch: Branch, attachments: Vec<Attachment>) {
        let turn = self.next_turn_id;
        let Some((_, tab)) = self.tab_by_id(tab_id) else { return };
        // What a deleted conversation left on screen goes: this prompt starts a new one.
        let branch = if tab.unsaved {
            tab.forget_conversation();
            Branch::Continue
        } else {
            branch
        };
        let infos: Vec<crate::domain::AttachmentInfo> = attachments.iter().map(|a| a.info.clone()).collect();
        let position = |tab: &Tab, id: i64| tab.messages.iter().position(|m| m.id == Some(id));
        let next = |a: Alternatives| Alternatives { index: a.count + 1, count: a.count + 1 };
        let mut answer = ChatMessage::answer(&tab.model);
        let prompt = match branch {
            Branch::Continue => {
                if tab.messages.is_empty() {
                    tab.title = crate::store::title_from(&prompt);
                }
                let mut message = ChatMessage::user(prompt.clone());
                message.attachments = infos;
                tab.messages.push(message);
                prompt
            }
            Branch::Regenerate { prompt_id } => {
                let Some(index) = position(tab, prompt_id) else { return };
                if let Some(old) = tab.answer_of(index) {
                    answer.alternatives = next(tab.messages[old].alternatives);
                }
                tab.messages.truncate(index + 1);
                tab.messages[index].text.clone()
            }
            Branch::Edit { prompt_id } => {
                let Some(index) = position(tab, prompt_id) else { return };
                let alternatives = next(tab.messages[index].alternatives);
                // An edited prompt keeps what the original had attached.
                let mut kept = std::mem::take(&mut tab.messages[index].attachments);
                tab.messages.truncate(index);
                let mut edited = ChatMessage::user(prompt.clone());
                edited.alternatives = alternatives;
                kept.extend(infos);
                edited.attachments = kept;
                tab.messages.push(edited);
                prompt
            }
        };
        tab.messages.push(answer);
        tab.revision += 1;
        tab.selected = None;
        tab.streaming = true;
        tab.turn = Some(turn);
        tab.error = None;
        tab.notice = None;
        tab.scroll_from_bottom = 0;
        self.next_turn_id += 1;
        self.commands.push(Command::Send { tab: tab_id, turn, prompt, branch, attachments });
    }

    /// The prompt that regenerate or edit acts on: the selected message's, else the last.
    pub(in crate::tui) fn target_prompt(&self) -> Option<usize> {
        let tab = self.tab();
        match self.selection() {
            Some(i) => tab.prompt_of(i),
            None => tab.messages.iter().rposition(|m| m.role == Role::User),
        }
    }

    /// Checks that a saved prompt can start a branch now; says why not otherwise.
    pub(in crate::tui) fn branchable(&mut self, prompt: Option<usize>, what: &str) -> Option<(usize, i64)> {
        let tab = self.tab();
        let found = prompt.and_then(|i| Some((i, tab.messages[i].id?)));
        let why = if tab.streaming {
            "An answer is still being written: wait, or press Esc to stop it."
        } else if prompt.is_none() {
            "There is no prompt here yet."
        } else if found.is_none() || tab.conversation_id.is_none() {
            "This prompt was not saved in the history, so it cannot be answered again or edited."
        } else {
            return found;
        };
        self.say(format!("Cannot {what}: {}", why.to_lowercase()));
        None
    }

    /// Ctrl-G / r: the prompt is asked again; the new answer replaces the one shown.
    pub(in crate::tui) fn regenerate(&mut self) {
        let Some((_, prompt_id)) = self.branchable(self.target_prompt(), "regenerate") else { return };
        self.leave_messages();
        let id = self.tab().id;
        self.start(id, String::new(), Branch::Regenerate { prompt_id }, Vec::new());
    }

    /// Ctrl-E / e: the prompt goes into the input for editing; a draft there is put aside.
    pub(in crate::tui) fn begin_edit(&mut self) {
        let Some((index, prompt_id)) = self.branchable(self.target_prompt(), "edit") else { return };
        self.leave_messages();
        let mut text = self.tab().messages[index].text.clone();
        // A template role filled this prompt in: the user edits what they typed, which sending
        // fills in again (editing the filled-in text would wrap it in the template twice).
        let role = self.tab().role.as_ref().and_then(|name| self.roles.iter().find(|r| &r.name == name));
        if let Some(input) = role.and_then(|role| role.input_of(&text)) {
            text = input;
        }
        let tab = self.tab_mut();
        let draft = match tab.editing.take() {
            Some(previous) => previous.draft,
            None => Some(tab.input_text()).filter(|t| !t.trim().is_empty()),
        };
        let kept = draft.is_some();
        tab.editing = Some(Editing { prompt_id, draft });
        tab.set_input(&text);
        self.say(if kept {
            "Editing: Enter sends it as a new branch, Esc cancels. Your draft is kept and comes back after."
        } else {
            "Editing: Enter sends it as a new branch, Esc cancels."
        });
    }

    /// Esc while editing: the prompt goes back to what it held before.
    pub(in crate::tui) fn cancel_edit(&mut self) {
        let tab = self.tab_mut();
        if let Some(editing) = tab.editing.take() {
            match editing.draft {
                Some(draft) => tab.set_input(&draft),
                None => tab.clear_input(),
            }
            self.say("Edit cancelled.");
        }
    }

    /// [ / ]: another alternative of the selected message, else of the last answer.
    pub(in crate::tui) fn alternative(&mut self, step: isize) {
        let tab = self.tab();
        let index = self.selection().or_else(|| tab.messages.iter().rposition(|m| m.role == Role::Model));
        let Some(message) = index.and_then(|i| tab.messages.get(i)) else {
            self.say("There is no answer here yet.");
            return;
        };
        let what = if message.role == Role::User { "prompt" } else { "answer" };
        let flash = if tab.streaming {
            Some("An answer is still being written: wait, or press Esc to stop it.".to_owned())
        } else if message.alternatives.count <= 1 {
            Some(format!("This {what} has no alternatives (Ctrl-G regenerates an answer, Ctrl-E edits a prompt)."))
        } else if (step < 0 && message.alternatives.index == 1)
            || (step > 0 && message.alternatives.index == message.alternatives.count)
        {
            let end = if step < 0 { "first" } else { "last" };
            Some(format!("This is the {end} of {} alternatives.", message.alternatives.count))
        } else {
            None
        };
        if let Some(flash) = flash {
            self.say(flash);
            return;
        }
        if let Some(message_id) = message.id {
            let tab = tab.id;
            self.commands.push(Command::SwitchAlternative { tab, message_id, step });
        }
    }

    /// `c` on a selected message: copies its first code block, then the next at each press.
    pub(in crate::tui) fn copy_next_block(&mut self) {
        let Some(index) = self.selection() else { return };
        let blocks = code_blocks(&self.tab().messages[index].text);
        if blocks.is_empty() {
            self.say("This message has no code block.");
            return;
        }
        let tab = self.tab_mut();
        let next = match tab.copied_block {
            Some((i, b)) if i == index => (b + 1) % blocks.len(),
            _ => 0,
        };
        tab.copied_block = Some((index, next));
        let what = format!("code block {} of {}", next + 1, blocks.len());
        self.copy(blocks[next].clone(), &what);
    }

    /// Asks for `text` to be copied; the flash says where it went once it has ([`AppEvent::Copied`]).
    pub(in crate::tui) fn copy(&mut self, text: String, what: &str) {
        self.copying = Some((self.tab().id, format!("{what} ({} characters)", text.chars().count())));
        self.commands.push(Command::Copy { text });
    }
}

/// The last fenced code block of a markdown text (its content, without the fences).
pub fn last_code_block(text: &str) -> Option<String> {
    code_blocks(text).pop()
}

/// Every fenced code block of `text`, in order, without its fences.
pub fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines.join("\n")),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    blocks
}
