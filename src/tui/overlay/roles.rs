//! The role picker (`/role` alone): the model picker's list ([`super::models`]) showing the
//! roles, and "none" when the tab has one; and what taking a role does to a tab.

use crate::tui::app::App;
use crate::tui::keys::Focus;
use crate::tui::tab::Tab;

impl App {
    /// The picker lists the roles: the tab's role first in view, type to filter, Enter takes one.
    pub(in crate::tui) fn open_role_picker(&mut self) {
        self.picking_roles = true;
        self.focus = Focus::ModelPicker;
        self.model_filter.clear();
        let current = self.tab().role.clone();
        self.model_selected = self.shown_models().iter().position(|r| Some(*r) == current.as_deref()).unwrap_or(0);
    }

    /// Enter in the role picker: the tab answers as the role selected.
    pub(in crate::tui) fn pick_role(&mut self) {
        self.focus = Focus::Chat;
        if let Some(role) = self.shown_models().get(self.model_selected).map(|r| r.to_string()) {
            self.set_role(Some(&role));
        }
    }

    /// `/role NAME`: the tab answers as role NAME from now on (its prompt as the system prompt,
    /// its model; its settings under the tab's own); `none` goes back to no role; alone, the
    /// list of roles.
    pub(in crate::tui) fn set_role(&mut self, name: Option<&str>) -> bool {
        let Some(name) = name else {
            if self.roles.is_empty() {
                self.say(
                    "No roles are defined: add [roles.NAME] to the config file, or a roles/NAME.md file beside it.",
                );
                return true;
            }
            self.open_role_picker();
            return true;
        };
        if name == "none" {
            let system = self.default_system.clone();
            let tab = self.tab_mut();
            tab.role = None;
            tab.system = system;
            self.say("No role in this tab; the system prompt is the default again.");
            return true;
        }
        let Some(role) = self.roles.iter().find(|r| r.name == name).cloned() else {
            self.say(crate::chat::unknown_role(name, &self.roles));
            return false;
        };
        apply_role(self.tab_mut(), &role);
        let model = role.model.as_deref().map(|m| format!(" on {m}")).unwrap_or_default();
        let template = if role.is_template() { " (your text fills in its template)" } else { "" };
        self.say(format!("This tab now answers as {}{model}{template}.", role.name));
        true
    }
}

/// Makes `role` the tab's: its prompt the tab's system prompt (a template gives none), its model
/// the tab's model.
pub(in crate::tui) fn apply_role(tab: &mut Tab, role: &crate::chat::NamedRole) {
    if role.prompt.is_some() {
        tab.system = role.system_instruction().map(str::to_owned);
    }
    if let Some(model) = &role.model {
        tab.model = model.clone();
    }
    tab.role = Some(role.name.clone());
}
