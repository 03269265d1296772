//! One tab's state: a conversation, its prompt input, the answer being written, the tools its
//! turns offer and a round of tool calls waiting for the user's word, and the rendered lines of
//! its messages ([`super::cells`]), cached per width so a frame costs what is visible, not the
//! history length.

use ratatui::style::Style;
use ratatui::text::Line;
use ratatui_textarea::TextArea;

pub use super::cells::ChatMessage;
use super::cells::render_message;
use crate::chat::Role;
use crate::render::theme::Theme;
use crate::store::{MessageStatus, StoredMessage};

/// A sentence about the last action in a tab ("Copied the answer.") and when it was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub at: std::time::Instant,
}

/// An earlier prompt recalled into the input with ↑: which one, and its text (typing changes
/// the text, and ↑↓ then move the cursor again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recall {
    pub at: usize,
    pub shown: String,
}

/// A saved prompt being edited in the input; sending it starts a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editing {
    pub prompt_id: i64,
    /// What the input held before the edit began; it comes back when the edit is sent or dropped.
    pub draft: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct Rendered {
    width: u16,
    /// `text.len()`, revision, status and selection when rendered: text only grows or is
    /// replaced as a whole (which bumps the revision).
    key: (usize, u64, Option<MessageStatus>, bool),
    /// How many lines the message takes at `width`.
    count: usize,
    /// The lines themselves, kept only near the view (memory stays a few screens' worth
    /// however long the conversation).
    lines: Option<Vec<Line<'static>>>,
}

pub struct Tab {
    pub id: u64,
    pub conversation_id: Option<i64>,
    pub title: String,
    pub model: String,
    pub system: Option<String>,
    /// This tab's generation settings (`/thinking`, `/thoughts`, `/set`, the launch flags), over
    /// its role's and [`Tab::conversation_settings`]: [`Tab::effective_settings`] is what the next
    /// request carries.
    pub settings: crate::chat::Settings,
    /// The settings under the tab's own: what its conversation was saved with (a reopened or
    /// restored one), else the config file's. The runner sends over these, not the database's.
    pub conversation_settings: crate::chat::Settings,
    /// The role this tab answers as (`/role`), saved with its conversation.
    pub role: Option<String>,
    /// Tokens the conversation takes of the model's input: the last answer's prompt and output.
    pub context_used: Option<u64>,
    pub messages: Vec<ChatMessage>,
    pub input: TextArea<'static>,
    /// An answer is being written.
    pub streaming: bool,
    /// The turn running in this tab (its id, never reused): only its events land here.
    pub turn: Option<u64>,
    /// The messages shown belong to a conversation deleted while the last answer was written:
    /// nothing here is saved, and the next prompt starts a new conversation without them.
    pub unsaved: bool,
    /// A sentence about the running answer ("retrying in 7s...").
    pub notice: Option<String>,
    /// The running answer waits to be tried again (a typed fact, for the status bar's count).
    pub retrying: bool,
    pub unread: bool,
    pub error: Option<String>,
    /// Lines between the bottom of the conversation and the bottom of the view (0: follow).
    pub scroll_from_bottom: usize,
    /// Tokens of this conversation so far (prompt, output and thinking of each answer).
    pub tokens: u64,
    /// Bumped whenever a message's text is replaced rather than extended.
    pub revision: u64,
    /// The message chosen with the keyboard (to edit, regenerate, browse alternatives, copy).
    pub selected: Option<usize>,
    /// A saved prompt is being edited in the input.
    pub editing: Option<Editing>,
    /// The last action's sentence, shown in this tab only.
    pub flash: Option<Flash>,
    /// An earlier prompt recalled with ↑.
    pub recall: Option<Recall>,
    /// The message and code block `c` copied last (the next press copies the next block).
    pub copied_block: Option<(usize, usize)>,
    /// Files attached to the next prompt (`/attach`, `@path`).
    pub pending: Vec<crate::attach::Attachment>,
    /// The servers whose tools this tab's turns offer the model (`/tools`).
    pub tools: crate::tools::Selection,
    /// `/tools` set them in this tab (else a role's `tools` wins over the config's).
    pub tools_chosen: bool,
    /// The running turn waits for the user's word on tool calls (the approval line).
    pub approval: Option<crate::tui::overlay::approve::Waiting>,
    rendered: Vec<Rendered>,
    /// Messages from this index on are rendered at the current width.
    fresh_from: usize,
    /// The theme the rendered lines carry (another one renders them again).
    theme: Theme,
}

fn new_input() -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_placeholder_text("Ask Gemini… (Enter sends, Alt-Enter new line, F1 help)");
    input.set_cursor_line_style(Style::default());
    input
}

impl Tab {
    pub fn new(id: u64, model: &str) -> Self {
        Tab {
            id,
            conversation_id: None,
            title: "new chat".to_owned(),
            model: model.to_owned(),
            system: None,
            settings: crate::chat::Settings::default(),
            conversation_settings: crate::chat::Settings::default(),
            role: None,
            context_used: None,
            messages: Vec::new(),
            input: new_input(),
            streaming: false,
            turn: None,
            unsaved: false,
            notice: None,
            retrying: false,
            unread: false,
            error: None,
            scroll_from_bottom: 0,
            tokens: 0,
            revision: 0,
            selected: None,
            editing: None,
            flash: None,
            recall: None,
            copied_block: None,
            pending: Vec::new(),
            tools: crate::tools::Selection::Off,
            tools_chosen: false,
            approval: None,
            rendered: Vec::new(),
            fresh_from: 0,
            theme: Theme::new(crate::render::theme::ThemeName::Dark, true),
        }
    }

    /// Shows saved conversation `id` in this tab.
    pub fn show(
        &mut self,
        id: i64,
        title: String,
        model: String,
        system: Option<String>,
        messages: Vec<StoredMessage>,
    ) {
        self.conversation_id = Some(id);
        self.title = title;
        self.model = model;
        self.system = system;
        self.context_used = None;
        // The tokens its answers took, as they were counted when each came (the status bar's
        // count goes on from there, as it does while answers come).
        let counts = |m: &StoredMessage| [m.prompt_tokens, m.output_tokens, m.thought_tokens];
        self.tokens = messages
            .iter()
            .filter(|m| m.role == Role::Model)
            .flat_map(|m| counts(m).into_iter().flatten())
            .map(|n| u64::try_from(n).unwrap_or(0))
            .sum();
        self.messages = messages.into_iter().map(ChatMessage::from).collect();
        self.revision += 1;
        self.scroll_from_bottom = 0;
    }

    /// Stops showing a conversation (it was deleted): the tab becomes a new chat with the
    /// same model, system prompt, settings and role, and keeps what is typed in its prompt.
    pub fn forget_conversation(&mut self) {
        self.conversation_id = None;
        self.title = "new chat".to_owned();
        self.messages.clear();
        self.context_used = None;
        self.tokens = 0;
        self.revision += 1;
        self.selected = None;
        self.editing = None;
        self.copied_block = None;
        self.scroll_from_bottom = 0;
        self.streaming = false;
        self.turn = None;
        self.unsaved = false;
        self.stop_waiting();
    }

    /// The settings the tab's next request carries: its conversation's, its role's over them,
    /// the tab's own over both (what the status bar, `/set` and every toggle show).
    pub fn effective_settings(&self, roles: &[crate::chat::NamedRole]) -> crate::chat::Settings {
        let role = self.role.as_ref().and_then(|name| roles.iter().find(|r| &r.name == name));
        match role {
            Some(role) => self.conversation_settings.with(&role.settings.with(&self.settings)),
            None => self.conversation_settings.with(&self.settings),
        }
    }

    /// The servers whose tools the next turn offers: the tab's (`/tools`, the launch flag, the
    /// config's) unless the user chose none and the tab's role names its own, as the runner
    /// composes them.
    pub fn effective_tools(&self, roles: &[crate::chat::NamedRole]) -> crate::tools::Selection {
        let role = self.role.as_ref().and_then(|name| roles.iter().find(|r| &r.name == name));
        match role.and_then(|r| r.tools.clone()) {
            Some(selection) if !self.tools_chosen => selection,
            _ => self.tools.clone(),
        }
    }

    /// What the answers shown cost (`None`: none reported any usage).
    pub fn cost(&self) -> Option<crate::money::Total> {
        let mut total = crate::money::Total::default();
        let mut any = false;
        for cost in self.messages.iter().filter_map(|m| m.cost.as_ref()) {
            total.add(cost.cost);
            any = true;
        }
        any.then_some(total)
    }

    /// The tokens this conversation takes of the model's input: the last answer's count, else
    /// an estimate from its text (about four bytes a token).
    pub fn context_tokens(&self) -> u64 {
        self.context_used.unwrap_or_else(|| {
            let bytes: usize =
                self.messages.iter().map(|m| m.text.len()).sum::<usize>() + self.system.as_deref().map_or(0, str::len);
            (bytes as u64).div_ceil(4)
        })
    }

    pub fn input_text(&self) -> String {
        self.input.lines().join("\n")
    }

    pub fn input_is_empty(&self) -> bool {
        self.input.lines().iter().all(|l| l.is_empty())
    }

    pub fn set_input(&mut self, text: &str) {
        self.input = new_input();
        self.input.insert_str(text);
    }

    pub fn clear_input(&mut self) {
        self.input = new_input();
    }

    pub fn last_answer(&self) -> Option<&ChatMessage> {
        self.messages.iter().rev().find(|m| m.role == Role::Model && m.tool.is_none() && !m.text.is_empty())
    }

    /// The prompt a message belongs to: itself for a prompt, the one before it for an answer.
    pub fn prompt_of(&self, index: usize) -> Option<usize> {
        (0..=index.min(self.messages.len().checked_sub(1)?)).rev().find(|i| self.messages[*i].role == Role::User)
    }

    /// The answer that follows prompt `index`, if one is shown (after its tool cells).
    pub fn answer_of(&self, prompt: usize) -> Option<usize> {
        let after = self.messages.iter().enumerate().skip(prompt + 1);
        let mut turn = after.take_while(|(_, m)| m.role == Role::Model);
        turn.find(|(_, m)| m.tool.is_none()).map(|(i, _)| i)
    }

    /// Brings the rendered lines up to date for `width`, from the newest message back until
    /// `height` lines above the scroll position are covered. Older messages are rendered only
    /// when scrolled to, so opening or resizing a 5,000-message conversation costs a screenful.
    pub fn prepare(&mut self, width: u16, height: usize, theme: &Theme) {
        if self.theme != *theme {
            // Rendered messages carry the old theme's styles: render them again.
            self.theme = *theme;
            self.revision += 1;
        }
        if let Some(selected) = self.selected.filter(|i| *i < self.messages.len()) {
            self.reveal(selected, width, height);
        }
        let need = self.scroll_from_bottom.saturating_add(height);
        // Lines (counted from the bottom) whose rendering is kept: the view and a screen around it.
        let keep = self.scroll_from_bottom.saturating_sub(height)..need.saturating_add(height);
        self.render_back(width, need, keep);
    }

    /// Scrolls so that message `index` is in view (its start first, if it is taller than the view).
    fn reveal(&mut self, index: usize, width: u16, height: usize) {
        // Measure from the newest message back to the selected one (line counts only).
        let measured = self.rendered.len() == self.messages.len()
            && self.fresh_from <= index
            && self.rendered.last().is_some_and(|r| r.width == width);
        if !measured {
            let keep = self.scroll_from_bottom..self.scroll_from_bottom.saturating_add(height);
            let mut need = self.scroll_from_bottom.saturating_add(height);
            loop {
                self.render_back(width, need, keep.clone());
                if self.fresh_from <= index || need == usize::MAX {
                    break;
                }
                need = need.saturating_mul(2);
            }
        }
        let below: usize = self.rendered.iter().skip(index + 1).map(|r| r.count).sum();
        let lines = self.rendered.get(index).map_or(1, |r| r.count);
        if below < self.scroll_from_bottom {
            self.scroll_from_bottom = below;
        }
        if below + lines > self.scroll_from_bottom + height {
            self.scroll_from_bottom = (below + lines).saturating_sub(height);
        }
    }

    /// Renders from the newest message back until `need` lines are known, keeping the lines of
    /// messages inside `keep` (lines from the bottom) and only the line counts of the others.
    fn render_back(&mut self, width: u16, need: usize, keep: std::ops::Range<usize>) {
        let before = self.total_lines();
        let old_fresh_from = self.fresh_from.min(self.messages.len());
        let resized = self.rendered.last().is_some_and(|r| r.width != width);
        self.rendered.truncate(self.messages.len());
        self.rendered.resize_with(self.messages.len(), Rendered::default);
        let mut have = 0;
        self.fresh_from = self.messages.len();
        let selected = self.selected;
        for (index, (message, rendered)) in self.messages.iter().zip(self.rendered.iter_mut()).enumerate().rev() {
            if have >= need {
                break;
            }
            let is_selected = selected == Some(index);
            let key = (message.text.len(), self.revision, Some(message.status), is_selected);
            let stale = rendered.width != width || rendered.key != key;
            let below = have;
            let near = |count: usize| below < keep.end && below + count > keep.start;
            if stale || (rendered.lines.is_none() && near(rendered.count)) {
                let lines = render_message(message, width, is_selected, &self.theme);
                rendered.count = lines.len();
                rendered.width = width;
                rendered.key = key;
                rendered.lines = Some(lines);
            }
            if !near(rendered.count) {
                rendered.lines = None;
            }
            have += rendered.count;
            self.fresh_from -= 1;
        }
        // Text added below a reader who scrolled up must not move what they are reading.
        // (Only lines of messages that were already on screen or below count, not older
        // messages rendered just now above them.)
        if self.scroll_from_bottom > 0 && !resized {
            let after: usize = self.rendered.iter().skip(old_fresh_from.max(self.fresh_from)).map(|r| r.count).sum();
            let before = if self.fresh_from > old_fresh_from { before.min(after) } else { before };
            self.scroll_from_bottom = (self.scroll_from_bottom + after).saturating_sub(before);
        }
    }

    /// The lines kept for display, in order (for tests and snapshots).
    pub fn all_lines(&self) -> Vec<&Line<'static>> {
        self.rendered.iter().skip(self.fresh_from).filter_map(|r| r.lines.as_ref()).flatten().collect()
    }

    /// Lines of the messages rendered at the current width (the newest ones; see `prepare`).
    pub fn total_lines(&self) -> usize {
        self.rendered.iter().skip(self.fresh_from).map(|r| r.count).sum()
    }

    /// The `height` lines ending `scroll_from_bottom` lines above the bottom, walking back from
    /// the end so the cost is what is visible.
    pub fn visible_lines(&self, height: usize) -> Vec<Line<'static>> {
        let mut skip = self.scroll_from_bottom;
        let mut out: Vec<Line<'static>> = Vec::with_capacity(height);
        for rendered in self.rendered.iter().skip(self.fresh_from).rev() {
            if skip >= rendered.count {
                skip -= rendered.count;
                continue;
            }
            let blank = vec![Line::default(); rendered.count];
            let lines = rendered.lines.as_ref().unwrap_or(&blank);
            for line in lines.iter().rev().skip(skip) {
                out.push(line.clone());
                if out.len() == height {
                    out.reverse();
                    return out;
                }
            }
            skip = 0;
        }
        out.reverse();
        out
    }

    /// Scrolls up by `n` lines, never past the top.
    /// Scrolls up by `n` lines, never past the top (older messages are rendered on the next
    /// frame, so the limit is only known once everything above is rendered).
    pub fn scroll_up(&mut self, n: usize, height: usize) {
        let target = self.scroll_from_bottom.saturating_add(n);
        self.scroll_from_bottom =
            if self.fresh_from == 0 { target.min(self.total_lines().saturating_sub(height)) } else { target };
    }

    /// After `prepare`, keeps the scroll position within the conversation.
    pub fn clamp_scroll(&mut self, height: usize) {
        if self.fresh_from == 0 {
            self.scroll_from_bottom = self.scroll_from_bottom.min(self.total_lines().saturating_sub(height));
        }
    }

    /// Home: renders everything (once) and shows the first message.
    pub fn on_home(&mut self, height: usize) {
        let Some(width) = self.rendered.last().map(|r| r.width) else { return };
        // Measure every message (keeping no lines), then render just the top screen.
        self.scroll_from_bottom = 0;
        self.render_back(width, usize::MAX, 0..0);
        self.scroll_from_bottom = self.total_lines().saturating_sub(height);
        let theme = self.theme;
        self.prepare(width, height, &theme);
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.scroll_from_bottom = self.scroll_from_bottom.saturating_sub(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn only_what_is_needed_for_the_screen_is_rendered() {
        let mut tab = Tab::new(1, "m");
        for i in 0..1000 {
            tab.messages.push(ChatMessage::user(format!("message {i}")));
        }
        tab.prepare(40, 9, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        assert_eq!(tab.total_lines(), 9, "three messages of three lines fill nine rows");
        assert_eq!(text(&tab.visible_lines(3)), ["you", "message 999", ""]);
        tab.scroll_up(30, 9);
        tab.prepare(40, 9, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        assert_eq!(text(&tab.visible_lines(3)), ["you", "message 989", ""]);
        tab.on_home(9);
        assert_eq!(tab.total_lines(), 3000);
        assert_eq!(text(&tab.visible_lines(9))[1], "message 0");
        assert!(tab.all_lines().len() <= 9 * 4, "only lines near the view are kept: {}", tab.all_lines().len());
    }

    #[test]
    fn a_selected_message_is_scrolled_into_view_and_marked() {
        let mut tab = Tab::new(1, "m");
        for i in 0..1000 {
            tab.messages.push(ChatMessage::user(format!("message {i}")));
        }
        tab.prepare(40, 9, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        tab.selected = Some(10);
        tab.prepare(40, 9, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        let shown = text(&tab.visible_lines(9));
        assert!(shown.contains(&"▶ you".to_owned()) && shown.contains(&"message 10".to_owned()), "{shown:?}");
        tab.selected = Some(998);
        tab.prepare(40, 9, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        let shown = text(&tab.visible_lines(9));
        assert!(shown.contains(&"message 998".to_owned()) && shown.contains(&"▶ you".to_owned()), "{shown:?}");
        assert!(tab.all_lines().len() <= 9 * 4, "still only lines near the view: {}", tab.all_lines().len());
    }

    #[test]
    fn visible_lines_follow_the_bottom_and_scroll_back() {
        let mut tab = Tab::new(1, "m");
        for i in 0..10 {
            tab.messages.push(ChatMessage::user(format!("line {i}")));
        }
        tab.prepare(40, 100, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        assert_eq!(tab.total_lines(), 30, "header, text, blank per message");
        let bottom = tab.visible_lines(3);
        assert_eq!(text(&bottom), ["you", "line 9", ""]);
        tab.scroll_up(3, 3);
        assert_eq!(text(&tab.visible_lines(3)), ["you", "line 8", ""]);
        tab.scroll_up(1000, 3);
        tab.prepare(40, 3, &Theme::new(crate::render::theme::ThemeName::Dark, true));
        tab.clamp_scroll(3);
        assert_eq!(text(&tab.visible_lines(3))[1], "line 0");
        tab.scroll_down(1000);
        assert_eq!(tab.scroll_from_bottom, 0);
    }
}
