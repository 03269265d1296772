//! The open tabs kept across runs: saved (with their drafts and which is active) as they
//! change, so a crash keeps them, and read back at start with each conversation as it is now.

use super::app::{self, App};
use crate::store::StoreHandle;

/// The tabs kept when the interface last closed, each with its conversation as it is now.
pub(super) fn restorable_tabs(store: &crate::store::Store) -> Result<Vec<app::Restored>, crate::store::StoreError> {
    let mut restored = Vec::new();
    for tab in store.open_tabs()? {
        let conversation = match tab.conversation_id {
            Some(id) => {
                let c = store.conversation(id)?;
                Some(app::RestoredConversation {
                    id,
                    title: c.title,
                    model: c.model,
                    system: c.system_prompt,
                    role: c.role,
                    settings: crate::chat::Settings::from_stored(c.settings.as_deref()),
                    messages: store.active_path(id)?,
                    tool_calls: store.tool_calls_of_conversation(id)?,
                })
            }
            None => None,
        };
        restored.push(app::Restored { conversation, draft: tab.draft, active: tab.active });
    }
    Ok(restored)
}

/// Saves the open tabs, their drafts and which is active if they changed since `kept` (queued
/// on the store's writer, coalesced with a save still waiting there).
pub fn keep_tabs(app: &App, store: &StoreHandle, kept: &mut Vec<crate::store::OpenTab>) {
    let tabs = app.open_tabs();
    if tabs != *kept {
        store.save_open_tabs_soon(tabs.clone());
        *kept = tabs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::AppEvent;
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

    fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
        app.on_terminal(Event::Key(KeyEvent::new(code, modifiers)));
    }

    fn type_in(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    /// Issue 20 item 3: tabs opened and drafts typed since the last clean exit were lost to a
    /// `kill -9`. They are saved as they change; here the process "dies" without the exit's
    /// save, and the next start brings back the tabs, their drafts and the active one.
    #[tokio::test]
    async fn tabs_drafts_and_the_active_tab_survive_a_crash() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("history.sqlite3");
        let (mut store, _) = crate::store::Store::open(&path).unwrap();
        let id = store.create_conversation("birds", "m", None).unwrap();
        let hi = crate::store::NewMessage {
            role: crate::domain::Role::User,
            text: "why do birds migrate?".into(),
            model: None,
            status: crate::store::MessageStatus::Complete,
            cached: false,
        };
        store.add_message(id, &hi).unwrap();
        let messages = store.active_path(id).unwrap();
        let handle = StoreHandle::spawn(store).unwrap();

        let mut app = App::new("m", false);
        let mut kept = app.open_tabs();
        app.on_event(AppEvent::Opened {
            tool_calls: Vec::new(),
            id,
            title: "birds".into(),
            model: "m".into(),
            system: None,
            settings: None,
            messages,
        });
        type_in(&mut app, "and in wint");
        keep_tabs(&app, &handle, &mut kept);
        press(&mut app, KeyCode::Char('t'), KeyModifiers::CONTROL);
        type_in(&mut app, "a second draft");
        keep_tabs(&app, &handle, &mut kept);
        press(&mut app, KeyCode::Char('1'), KeyModifiers::ALT);
        type_in(&mut app, "er?");
        keep_tabs(&app, &handle, &mut kept);
        // The writer has done what was queued (a fraction of a second in a live process); then
        // the process dies: no exit save.
        handle.call(|_| Ok(())).await.unwrap();
        drop(handle);

        let (store, _) = crate::store::Store::open(&path).unwrap();
        let mut next = App::new("m", false);
        next.restore(restorable_tabs(&store).unwrap());
        let tabs: Vec<(Option<i64>, String)> = next.tabs.iter().map(|t| (t.conversation_id, t.input_text())).collect();
        assert_eq!(tabs, [(Some(id), "and in winter?".to_owned()), (None, "a second draft".to_owned())]);
        assert_eq!(next.active, 0, "the first tab was active");
        assert_eq!(next.tab().messages.len(), 1, "with its conversation");
    }
}
