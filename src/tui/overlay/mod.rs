//! The overlays over the conversation, each in its own file with its state, its key handling
//! and its drawing: the history browser, the model picker and the role picker (one list), the
//! help, the find bar, the y/n question, and the approval line of tool calls. [`crate::tui::app`] routes an action to the
//! overlay that has the keys; what it does not take goes on to the rest of the interface.

pub mod approve;
pub mod confirm;
pub mod find;
pub mod help;
pub mod history;
pub mod models;
pub mod roles;

use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

/// A box `width` × `height` in the middle of `area` (no larger than it).
pub(in crate::tui) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

/// A one-line text field (history search, find, model filter) takes a typed character or a
/// Backspace; false for any other key (the field does not take it).
pub(in crate::tui) fn edit_line(text: &mut String, key: KeyEvent) -> bool {
    use crossterm::event::KeyCode;
    match key.code {
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        _ => return false,
    }
    true
}
