//! Shared domain types: the words every layer uses for a conversation (who wrote a message, what
//! state it is in) and for a front end asked to stop (a signal). A leaf: it imports nothing from
//! the crate, and every layer may import it.
//! How they are written to the database lives in `store/`, how they are labelled in `format`.

/// Who said a message (its author; a persona is a role, `roles`). Stored as `role`, whose
/// values (`user`, `model`) are unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Author {
    User,
    Model,
}

impl Author {
    /// The stable name (the database's, and Gemini's own).
    pub fn as_str(self) -> &'static str {
        match self {
            Author::User => "user",
            Author::Model => "model",
        }
    }

    /// The role named `text`; `None` for anything else (never a guess).
    pub fn parse(text: &str) -> Option<Author> {
        match text {
            "user" => Some(Author::User),
            "model" => Some(Author::Model),
            _ => None,
        }
    }
}

/// The author's old name, kept while the front ends move to [`Author`] (the word `role` means
/// a persona everywhere else).
pub type Role = Author;

/// A message's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Complete,
    /// Being written (or left so by a process that died, until the next start marks it).
    Streaming,
    /// Cut off: stopped by the user, a failure after some text, or the token limit.
    Interrupted,
    /// Failed before any text.
    Error,
    /// Refused: the prompt was blocked, or the answer stopped for safety or recitation.
    Blocked,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Complete,
        MessageStatus::Streaming,
        MessageStatus::Interrupted,
        MessageStatus::Error,
        MessageStatus::Blocked,
    ];

    /// The stable name (the database's, and JSON output's).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Streaming => "streaming",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Error => "error",
            MessageStatus::Blocked => "blocked",
        }
    }

    /// The status named `text`; `None` for anything else (never a guess).
    pub fn parse(text: &str) -> Option<MessageStatus> {
        MessageStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What is known of an attachment without its bytes: enough to show it ("📎 report.pdf · 2.1
/// MiB"), export it and find its content again (by hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttachmentInfo {
    /// The file name it was attached under (untrusted: sanitize before display).
    pub name: String,
    /// The type sniffed from its content (`text/plain` for text).
    pub mime: String,
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

impl AttachmentInfo {
    /// Text goes to the model as a named text part; anything else as media.
    pub fn is_text(&self) -> bool {
        self.mime == TEXT_MIME
    }
}

/// The type given to attachments that are UTF-8 text.
pub const TEXT_MIME: &str = "text/plain";

/// Why a front end was asked to stop: a signal (each front end says what it does about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM: a service manager, `kill` or a shutdown.
    Terminate,
    /// SIGHUP: the terminal went away.
    HangUp,
}

impl Stop {
    /// How a one-line message names it ("Stopped by SIGTERM: ...").
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C",
            Stop::Terminate => "SIGTERM",
            Stop::HangUp => "SIGHUP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        for r in [Author::User, Author::Model] {
            assert_eq!(Author::parse(r.as_str()), Some(r));
        }
        assert_eq!(MessageStatus::parse("Complete"), None);
        assert_eq!(Author::parse("assistant"), None);
    }
}
