//! The model picker (F2, `/model`): the models the provider lists, newest first, filtered as
//! you type; Enter gives the tab the one selected. The role picker ([`super::roles`]) is the
//! same list showing roles. Its keys and its drawing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, edit_line};
use crate::sanitize::one_line;
use crate::tui::app::{App, Command};
use crate::tui::keys::{Action, Focus};

impl App {
    /// F2: the picker lists the models, the tab's own selected (loaded the first time).
    pub(in crate::tui) fn open_models(&mut self) {
        self.picking_roles = false;
        self.focus = Focus::ModelPicker;
        self.model_filter.clear();
        self.model_selected = self.shown_models().iter().position(|m| *m == self.tab().model).unwrap_or(0);
        if self.models.is_empty() {
            self.commands.push(Command::LoadModels);
        }
    }

    /// An action while the picker is open (models or roles): `None` when the picker took it,
    /// else the action for the rest of the interface.
    pub(in crate::tui) fn picker_action(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::ScrollUp(n) => self.move_model(-(n.max(1) as isize)),
            Action::ScrollDown(n) => self.move_model(n.max(1) as isize),
            Action::Up => self.move_model(-1),
            Action::Down => self.move_model(1),
            Action::Select if self.picking_roles => self.pick_role(),
            Action::Select => {
                if let Some(model) = self.shown_models().get(self.model_selected).map(|m| m.to_string()) {
                    self.tab_mut().model = model.clone();
                    self.say(format!("This tab now uses {model}."));
                }
                self.focus = Focus::Chat;
            }
            Action::Input(key) => {
                if edit_line(&mut self.model_filter, key) {
                    self.model_selected = 0;
                }
            }
            other => return Some(other),
        }
        None
    }

    /// The models the picker shows: those containing every word typed (any case), in order.
    /// What the picker lists, filtered by what is typed: the models, or the roles (and "none"
    /// when the tab has one).
    pub fn shown_models(&self) -> Vec<&str> {
        let words: Vec<String> = self.model_filter.split_whitespace().map(str::to_lowercase).collect();
        let items: Vec<&str> = if self.picking_roles {
            let none = self.tab().role.is_some().then_some("none");
            self.roles.iter().map(|r| r.name.as_str()).chain(none).collect()
        } else {
            self.models.iter().map(String::as_str).collect()
        };
        items
            .into_iter()
            .filter(|m| {
                let m = m.to_lowercase();
                words.iter().all(|w| m.contains(w.as_str()))
            })
            .collect()
    }

    pub(in crate::tui) fn move_model(&mut self, delta: isize) {
        let shown = self.shown_models().len();
        if shown > 0 {
            let last = shown as isize - 1;
            self.model_selected = (self.model_selected as isize + delta).clamp(0, last) as usize;
        }
    }
}

/// How the model picker orders models: the `-latest` aliases first, then the numbered
/// families newest first (gemini-3 before gemini-2.5 before gemini-2.0), then the rest, each
/// group by name.
pub(in crate::tui) fn model_order(name: &str) -> (u8, std::cmp::Reverse<(u32, u32)>, String) {
    let version = name.strip_prefix("gemini-").and_then(|rest| rest.split('-').next()).and_then(|v| {
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        Some((major, parts.next().and_then(|m| m.parse().ok()).unwrap_or(0)))
    });
    let group = if name.ends_with("-latest") {
        0
    } else if version.is_some() {
        1
    } else {
        2
    };
    (group, std::cmp::Reverse(version.unwrap_or((0, 0))), name.to_owned())
}

/// The picker in the middle of the screen: its filter in the title, the list with the selection.
pub(in crate::tui) fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = app.theme;
    let shown = app.shown_models();
    let height = (shown.len().max(1) as u16 + 2).clamp(3, area.height.saturating_sub(2));
    let title = if app.model_filter.is_empty() {
        let what = if app.picking_roles { "role" } else { "model" };
        format!(" {what} for this tab · type to filter · Enter · Esc ")
    } else {
        format!(" filter: {}▏· Enter · Esc ", one_line(&app.model_filter, 24))
    };
    // Wide enough for its title (the borders' corners beside it).
    let popup = centered(area, (title.chars().count() as u16 + 2).max(50), height);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line<'_>> = if app.models.is_empty() && !app.picking_roles {
        vec![Line::styled(" loading the model list…", theme.muted)]
    } else if shown.is_empty() {
        let what = if app.picking_roles { "role" } else { "model" };
        vec![Line::styled(format!(" no {what} matches “{}”", one_line(&app.model_filter, 30)), theme.muted)]
    } else {
        shown
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let style = if i == app.model_selected {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                // A role shows its model beside its name.
                let model =
                    app.roles.iter().find(|r| app.picking_roles && r.name == *m).and_then(|r| r.model.as_deref());
                let shown = match model {
                    Some(model) => format!(" {} · {}", one_line(m, 24), one_line(model, 20)),
                    None => format!(" {}", one_line(m, 46)),
                };
                Line::styled(shown, style)
            })
            .collect()
    };
    let skip = app.model_selected.saturating_sub(usize::from(height.saturating_sub(3)));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
            .block(Block::default().borders(Borders::ALL).title(title)),
        popup,
    );
}
