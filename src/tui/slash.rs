//! The slash commands of the prompt, as the interface uses them: the table, the parser and the
//! completions live in [`crate::commands`], shared with the line chat.

pub use crate::commands::*;
