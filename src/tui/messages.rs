//! What the interface's state and its runner say to each other: the work the state queues
//! for the runner ([`Command`]) and what the runner reports back ([`AppEvent`]). Both are
//! re-exported by [`super::app`], where they are handled.

use super::overlay::history::HistoryRow;
use crate::attach::Attachment;
use crate::chat::{Branch, Shown, TurnReport};
use crate::store::StoredMessage;

/// Work for the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start turn `turn` (an id never reused) in tab `tab` for `prompt`, joining its
    /// conversation as `branch` says (a regenerated answer skips the cache).
    Send {
        tab: u64,
        turn: u64,
        prompt: String,
        branch: Branch,
        /// Files attached to this prompt (read already; uploaded when too big to go inline).
        attachments: Vec<Attachment>,
    },
    /// Read the files at `paths` for tab `tab`'s next prompt; then send the prompt if `then_send`
    /// (its `@path` words named them).
    Attach {
        tab: u64,
        paths: Vec<std::path::PathBuf>,
        then_send: bool,
    },
    /// Show another alternative of a saved message in tab `tab` (`step` places away).
    SwitchAlternative {
        tab: u64,
        message_id: i64,
        step: isize,
    },
    Cancel {
        tab: u64,
    },
    Search {
        query: String,
        generation: u64,
    },
    Preview {
        id: i64,
    },
    /// Read the history's version (it changes whenever any process commits to it), for the
    /// browser to show what another process (`geminal serve`, another geminal) saved.
    WatchHistory,
    Open {
        id: i64,
    },
    Delete {
        id: i64,
    },
    LoadModels,
    /// Read each model's input limit once (for the context meters).
    LoadInputLimits,
    /// Take the mouse (true) or leave it to the terminal's text selection.
    MouseCapture(bool),
    /// Give conversation `id` a new title.
    Rename {
        id: i64,
        title: String,
    },
    /// Load the prompts asked before (for ↑ in an empty prompt).
    LoadPrompts,
    Copy {
        text: String,
    },
    /// Write conversation `id` (shown in tab `tab`) to `file`, or to a name made from its title.
    Export {
        tab: u64,
        id: i64,
        file: Option<String>,
    },
    /// Hand tab `tab`'s prompt to the user's editor; the result comes back through
    /// [`App::edited`](super::app::App::edited).
    EditPrompt {
        tab: u64,
        text: String,
    },
}

/// What the runner reports back. What a turn reports is keyed by its turn id, never reused,
/// and lands only in the tab still running that turn: a tab closed, rebuilt or running a newer
/// turn ignores it.
#[derive(Debug)]
pub enum AppEvent {
    Turn {
        turn: u64,
        shown: Shown,
    },
    TurnDone {
        turn: u64,
        report: Box<TurnReport>,
    },
    TurnFailedToStart {
        turn: u64,
        message: String,
    },
    /// Turn `turn` was not sent: its conversation was deleted (by another tab or process).
    /// The prompt (none for a regenerated answer) and its attachments go back to the tab.
    ConversationGone {
        turn: u64,
        conversation_id: i64,
        prompt: Option<String>,
        attachments: Vec<Attachment>,
    },
    /// Files read for tab `tab`'s next prompt, and the sentences of those that could not be.
    Attached {
        tab: u64,
        attachments: Vec<Attachment>,
        errors: Vec<String>,
        then_send: bool,
    },
    /// Something turn `turn` tells its tab once (a budget 80% spent), apart from the answer.
    TurnNote {
        turn: u64,
        text: String,
    },
    /// An attachment of turn `turn`'s prompt is being uploaded.
    Uploading {
        turn: u64,
        progress: crate::chat::UploadProgress,
    },
    SearchResults {
        generation: u64,
        rows: Result<Vec<HistoryRow>, String>,
    },
    /// The history's version now ([`Command::WatchHistory`]).
    HistoryVersion(i64),
    Preview {
        id: i64,
        messages: Vec<StoredMessage>,
    },
    Opened {
        id: i64,
        title: String,
        model: String,
        system: Option<String>,
        /// The generation settings it was saved with (`None`: none saved).
        settings: Option<crate::chat::Settings>,
        messages: Vec<StoredMessage>,
        /// Its saved tool calls (shown before the answers that made them).
        tool_calls: Vec<crate::store::StoredToolCall>,
    },
    /// The branch shown in tab `tab` changed (another alternative): its messages now, and the
    /// alternative chosen.
    Reloaded {
        tab: u64,
        conversation_id: i64,
        messages: Vec<StoredMessage>,
        chosen: i64,
    },
    Deleted {
        id: i64,
    },
    Models(Result<Vec<String>, String>),
    /// Prompts asked before, newest first.
    Prompts(Vec<String>),
    /// Conversation `conversation_id`, just opened, runs with this role.
    TabRole {
        conversation_id: i64,
        role: Option<String>,
    },
    /// Each model's input limit, in tokens (for the context meters).
    InputLimits(std::collections::HashMap<String, u64>),
    /// Conversation `id` now has this title.
    Renamed {
        id: i64,
        title: String,
    },
    Error(String),
    /// Tab `tab`'s conversation was written to this file (or why not).
    Exported {
        tab: u64,
        written: Result<String, String>,
    },
    /// Where the last copy went, or why nothing was copied.
    Copied(Result<super::clipboard::Via, String>),
    /// Turn `turn` (in conversation `conversation_id`) asks to run these tool calls: the
    /// user's word on each goes back through `reply`, in order (dropped: Stop).
    Approve {
        turn: u64,
        conversation_id: i64,
        calls: Vec<crate::tools::PendingCall>,
        reply: tokio::sync::oneshot::Sender<Vec<crate::tools::Approval>>,
    },
}
