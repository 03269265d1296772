//! What the runner reports, as it changes the interface: a turn's text, notices and end land
//! in the tab still running that turn (by its id, never reused); search results, previews,
//! opened and deleted conversations, models, attachments, exports and copies land where they
//! were asked for. A turn's tool steps become cells of its tab; its questions about tool calls
//! wait in that tab's approval line (`overlay/approve`).

use super::app::{App, AppEvent, Command};
use super::keys::Focus;
use super::tab::{ChatMessage, Flash};
use crate::chat::{Outcome, Role, Shown};
use crate::store::MessageStatus;

impl App {
    /// Handles what the runner reports.
    pub fn on_event(&mut self, event: AppEvent) {
        self.handle_event(event);
        // The active tab may wait for approval now (or no longer).
        self.settle_focus();
    }

    fn handle_event(&mut self, event: AppEvent) {
        self.dirty = true;
        let active_id = self.tab().id;
        match event {
            AppEvent::Turn { turn, shown } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let tab = t.id;
                if let Shown::Saved { conversation_id, prompt_id } = shown {
                    // Known now, not when the answer ends: deleting it stops this turn first.
                    t.conversation_id = Some(conversation_id);
                    if let Some(prompt) = t.messages.len().checked_sub(1).and_then(|last| t.prompt_of(last)) {
                        t.messages[prompt].id = Some(prompt_id);
                    }
                    return;
                }
                if let Shown::Tool(step) = shown {
                    t.add_tool_step(step);
                    if tab != active_id {
                        t.unread = true;
                    }
                    return;
                }
                let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) else { return };
                match shown {
                    Shown::Text(text) => {
                        answer.text.push_str(&text);
                        t.notice = None;
                        t.retrying = false;
                    }
                    Shown::Thought(text) => {
                        if !answer.thoughts.is_empty() && !answer.thoughts.ends_with('\n') {
                            answer.thoughts.push('\n');
                        }
                        answer.thoughts.push_str(&text);
                        t.revision += 1;
                    }
                    Shown::Restart => {
                        answer.text.clear();
                        answer.thoughts.clear();
                        t.revision += 1;
                        t.notice = Some("The answer was cut off and starts again.".into());
                        t.keep_said();
                    }
                    // Said once, in the tab's own line, and kept out of the running notice.
                    Shown::Notice(crate::chat::Notice::ContextTrimmed(trimmed)) => {
                        t.flash = Some(Flash { text: trimmed.to_string(), at: std::time::Instant::now() });
                    }
                    Shown::Notice(notice) => {
                        t.retrying = matches!(notice, crate::chat::Notice::Retrying { .. });
                        t.notice = Some(notice.to_string());
                    }
                    Shown::Saved { .. } => {}
                    // Nothing to show: a background tab is not marked unread for it.
                    Shown::Answering { .. } => return,
                    Shown::Tool(_) => {}
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::TurnDone { turn, report } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let tab = t.id;
                t.streaming = false;
                t.turn = None;
                t.notice = None;
                t.retrying = false;
                t.stop_waiting();
                // Deleted while the answer was written (the runner asked the store): the answer
                // stays on screen, said unsaved, and the next prompt starts a new conversation.
                let gone = match &report.save_error {
                    Some(crate::store::StoreError::NoConversation { id }) => Some(*id),
                    _ => None,
                };
                if gone.is_none() && report.conversation_id.is_some() {
                    t.conversation_id = report.conversation_id;
                }
                if let Some(u) = report.usage {
                    // What the next request sends again: this prompt and this answer.
                    t.context_used = Some(u64::from(u.prompt_token_count) + u64::from(u.candidates_token_count));
                    // Thinking tokens are billed as output: they count too.
                    t.tokens += u64::from(u.prompt_token_count)
                        + u64::from(u.candidates_token_count)
                        + u64::from(u.thoughts_token_count);
                }
                let prompt = t.messages.len().checked_sub(1).and_then(|last| t.prompt_of(last));
                if let Some(prompt) = prompt.filter(|p| *p + 1 < t.messages.len() && report.prompt_id.is_some()) {
                    t.messages[prompt].id = report.prompt_id;
                }
                if let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) {
                    answer.id = report.answer_id;
                    answer.text = report.text.clone();
                    answer.thoughts = report.thoughts.clone();
                    answer.grounding = report.grounding.clone().map(Box::new);
                    answer.cached = report.cached;
                    answer.cost = (report.usage.is_some() || report.cached).then(|| report.cost.clone());
                    answer.status = report.status;
                    t.revision += 1;
                    if let Outcome::Failed(e) = &report.outcome {
                        answer.error = Some(e.to_string());
                        t.error = Some(e.to_string());
                    }
                }
                t.keep_said();
                if let Some(id) = gone {
                    t.conversation_id = None;
                    t.unsaved = true;
                    t.error = Some(format!(
                        "Conversation {id} was deleted while this answer was written: it is shown here but not saved; your next prompt starts a new conversation."
                    ));
                } else if let Some(e) = &report.save_error {
                    t.error = Some(e.to_string());
                }
                if tab != active_id {
                    t.unread = true;
                }
            }
            AppEvent::ConversationGone { turn, conversation_id, prompt, attachments } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let typed = t.input_text();
                let back = match prompt {
                    Some(prompt) if typed.trim().is_empty() => prompt,
                    Some(prompt) => format!("{prompt}\n{typed}"),
                    None => typed,
                };
                t.forget_conversation();
                t.set_input(&back);
                let mut kept = attachments;
                kept.append(&mut t.pending);
                t.pending = kept;
                t.error = Some(format!(
                    "Conversation {conversation_id} was deleted; your prompt was not sent and is back in the input: send it again to start a new conversation."
                ));
                if t.id != active_id {
                    t.unread = true;
                }
            }
            AppEvent::Attached { tab, attachments, errors, then_send } => {
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                for a in attachments {
                    if !t.pending.iter().any(|p| p.info.sha256 == a.info.sha256 && p.info.name == a.info.name) {
                        t.pending.push(a);
                    }
                }
                if let Some(first) = errors.into_iter().next() {
                    t.flash = Some(Flash { text: first, at: std::time::Instant::now() });
                } else if then_send && tab == active_id && self.focus == Focus::Chat {
                    self.send();
                }
            }
            AppEvent::TurnNote { turn, text } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                t.flash = Some(Flash { text, at: std::time::Instant::now() });
            }
            AppEvent::Uploading { turn, progress } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                let percent = (progress.sent * 100).checked_div(progress.total).unwrap_or(100);
                t.notice = Some(format!(
                    "Uploading {}: {percent}% of {}…",
                    crate::sanitize::one_line(&progress.name, 40),
                    crate::format::bytes(progress.total)
                ));
            }
            AppEvent::TurnFailedToStart { turn, message } => {
                let Some(t) = self.tab_by_turn(turn) else { return };
                t.streaming = false;
                t.turn = None;
                t.stop_waiting();
                if let Some(answer) = t.messages.last_mut().filter(|m| m.role == Role::Model) {
                    answer.status = MessageStatus::Error;
                    answer.error = Some(message.clone());
                    t.revision += 1;
                }
                t.error = Some(message);
            }
            AppEvent::HistoryVersion(version) => self.history_version(version),
            AppEvent::SearchResults { generation, rows } => {
                if self.history.results(generation, rows) {
                    self.preview();
                }
            }
            AppEvent::Preview { id, messages } => {
                if self.history.selected_id() == Some(id) {
                    self.history.preview = Some((id, messages));
                }
            }
            AppEvent::Opened { id, title, model, system, settings, messages, tool_calls } => {
                if let Some(index) = self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
                    self.switch_to(index);
                    return;
                }
                let base = self.base_settings.clone();
                let tab = if self.tab().messages.is_empty() && !self.tab().streaming {
                    self.tab_mut()
                } else {
                    self.new_tab()
                };
                tab.show(id, title, model, system, messages);
                tab.show_tool_calls(&tool_calls);
                // The tab shows and sends what the conversation was saved with.
                tab.conversation_settings = settings.unwrap_or(base);
            }
            AppEvent::Reloaded { tab, conversation_id, messages, chosen } => {
                let selecting = self.focus == Focus::Messages && self.tab().id == tab;
                let Some((_, t)) = self.tab_by_id(tab) else { return };
                if t.conversation_id != Some(conversation_id) || t.streaming {
                    return;
                }
                t.messages = messages.into_iter().map(ChatMessage::from).collect();
                t.revision += 1;
                let at = t.messages.iter().position(|m| m.id == Some(chosen));
                t.selected = if selecting { at } else { None };
                if !selecting {
                    t.scroll_from_bottom = 0;
                }
                if let Some(m) = at.map(|i| &t.messages[i]) {
                    // Said in the tab that changed, whichever tab is shown now.
                    let what = if m.role == Role::User { "Prompt" } else { "Answer" };
                    let text = format!("{what} {} of {}.", m.alternatives.index, m.alternatives.count);
                    t.flash = Some(Flash { text, at: std::time::Instant::now() });
                }
            }
            AppEvent::Deleted { id } => {
                self.say(format!("Deleted conversation {id}."));
                // A tab showing it closes; one holding an unsent draft keeps the draft and starts afresh.
                while let Some(index) = self.tabs.iter().position(|t| t.conversation_id == Some(id)) {
                    let tab = &mut self.tabs[index];
                    if tab.input_is_empty() {
                        self.close_tab_at(index);
                    } else {
                        if tab.streaming {
                            let tab_id = tab.id;
                            self.commands.push(Command::Cancel { tab: tab_id });
                        }
                        tab.forget_conversation();
                        tab.notice =
                            Some(format!("Conversation {id} was deleted; your draft is kept and starts a new one."));
                    }
                }
                self.search();
            }
            AppEvent::Models(Ok(mut models)) => {
                models.sort_by_key(|m| super::overlay::models::model_order(m));
                self.models = models;
                self.model_selected = self.shown_models().iter().position(|m| *m == self.tab().model).unwrap_or(0);
            }
            AppEvent::Renamed { id, title } => {
                for tab in self.tabs.iter_mut().filter(|t| t.conversation_id == Some(id)) {
                    tab.title = title.clone();
                }
                self.say(format!("Renamed to “{}”.", crate::sanitize::one_line(&title, 40)));
            }
            AppEvent::TabRole { conversation_id, role } => {
                if let Some(t) = self.tabs.iter_mut().find(|t| t.conversation_id == Some(conversation_id)) {
                    t.role = role;
                    self.dirty = true;
                }
            }
            AppEvent::InputLimits(limits) => {
                self.input_limits = limits;
                self.dirty = true;
            }
            AppEvent::Prompts(prompts) => {
                // Prompts sent since the load began stay first.
                for p in prompts {
                    if !self.past_prompts.contains(&p) {
                        self.past_prompts.push(p);
                    }
                }
            }
            AppEvent::Models(Err(e)) | AppEvent::Error(e) => {
                self.tab_mut().error = Some(e);
                if self.focus == Focus::ModelPicker {
                    self.focus = Focus::Chat;
                }
            }
            AppEvent::Exported { tab, written } => {
                let said = written.unwrap_or_else(|why| why);
                if let Some((_, t)) = self.tab_by_id(tab) {
                    t.flash = Some(Flash { text: said, at: std::time::Instant::now() });
                }
            }
            AppEvent::Approve { turn, conversation_id, calls, reply } => {
                self.on_approve(turn, conversation_id, calls, reply);
            }
            AppEvent::Copied(copied) => {
                let Some((tab, what)) = self.copying.take() else { return };
                let said = match copied {
                    Ok(via) => format!("Copied {what} {}.", via.said()),
                    Err(why) => why,
                };
                if let Some((_, t)) = self.tab_by_id(tab) {
                    t.flash = Some(Flash { text: said, at: std::time::Instant::now() });
                }
            }
        }
    }
}
