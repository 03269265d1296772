//! Tools the model may call, in no one's words: what a turn needs from wherever tools live (the
//! MCP servers of `mcp/`, a test's fake) and from whoever approves a call (a tab's approval
//! line, `ask`'s question on stderr), and the steps of a tool turn a front end shows. Data and
//! two traits only: `mcp` runs tools, `chat` runs the rounds, front ends ask and word.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Which configured servers' tools a turn offers the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// None (tools are off).
    #[default]
    Off,
    /// Every configured server's.
    All,
    /// These servers', by their configured names.
    Servers(Vec<String>),
}

impl Selection {
    pub fn is_off(&self) -> bool {
        matches!(self, Selection::Off) || matches!(self, Selection::Servers(names) if names.is_empty())
    }
}

/// One tool as the model is offered it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    /// The configured server it belongs to.
    pub server: String,
    /// The name the model calls it by: valid for every provider (letters, digits, `_ . : -`, at
    /// most 64 characters) and unique across the servers offered (prefixed with the server's
    /// name on a clash).
    pub name: String,
    /// The server's own name for it.
    pub original: String,
    pub description: String,
    /// A JSON Schema of its arguments, already cut to the subset the providers accept.
    pub parameters: Value,
    /// Its server is trusted (`trust = true`): its calls run without asking.
    pub trusted: bool,
}

/// What one call gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result as a JSON object, as the model is sent it (`functionResponse.response`).
    pub content: Value,
    /// Images or other media the tool returned, sent to the model as media parts where the
    /// provider takes them.
    pub media: Vec<Media>,
    /// The tool itself said the call failed (MCP's `isError`); the model is told.
    pub is_error: bool,
    /// The result was longer than the configured limit and was cut (the model is told).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub mime: String,
    pub bytes: bytes::Bytes,
}

/// Why a call gave no output. Each is told to the model as an error result, and to the user
/// by the front end in its own words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolFailure {
    /// The user said no, or no one could be asked and the call is not trusted (`needs_flag`:
    /// `--approve-tools` would have allowed it).
    #[error("refused")]
    Refused { needs_flag: bool },
    /// The model named a tool that was not offered.
    #[error("unknown tool {0}")]
    UnknownTool(String),
    /// Its server could not start, or stopped and did not come back.
    #[error("server {server} stopped")]
    ServerStopped { server: String, last_stderr: Option<String> },
    /// The server's `timeout_secs` passed.
    #[error("timed out after {0} s")]
    TimedOut(u64),
    /// The turn was stopped while the call ran (the server was told to cancel it).
    #[error("cancelled")]
    Cancelled,
    /// The server answered with an error (its message, untrusted: sanitize before showing).
    #[error("{0}")]
    Failed(String),
}

/// Why the tools of a selection could not be listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListError {
    #[error("no server named {0} is configured")]
    UnknownServer(String),
    #[error("server {server} stopped")]
    ServerStopped { server: String, last_stderr: Option<String> },
}

/// The tools of a selection, and the servers of it that did not start (their tools are left
/// out; the user is told once per turn).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub tools: Vec<ToolInfo>,
    /// Each a [`ListError::ServerStopped`].
    pub unavailable: Vec<ListError>,
}

/// Where tools live. Shared by every turn and tab (servers start on first use).
pub trait ToolBox: Send + Sync {
    /// The tools of the selected servers, starting them as needed.
    fn tools<'a>(&'a self, selection: &'a Selection) -> BoxFuture<'a, Result<Vec<ToolInfo>, ListError>>;

    /// [`ToolBox::tools`], with the servers that did not start left out and said, when some of
    /// an unnamed selection ([`Selection::All`]) start. The default: every failure fails.
    fn listing<'a>(&'a self, selection: &'a Selection) -> BoxFuture<'a, Result<Listing, ListError>> {
        Box::pin(async move { Ok(Listing { tools: self.tools(selection).await?, unavailable: Vec::new() }) })
    }

    /// Runs one call of a tool [`ToolBox::tools`] listed (by its [`ToolInfo::name`]), under
    /// its server's timeout. When `cancel` fires the call stops at once and the server is told.
    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: &'a Value,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>>;
}

/// A call waiting for the user's word.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCall {
    /// The call's id within its turn.
    pub id: String,
    pub server: String,
    /// The name the model called it by.
    pub tool: String,
    /// As the model wrote them (untrusted: escape before showing).
    pub arguments: Value,
}

/// The user's word on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Run,
    Refuse,
    /// Stop the whole turn (the partial turn is saved as interrupted).
    Stop,
}

/// Whoever can say yes to a call. A front end with no one to ask gives none.
pub trait Approver: Send + Sync {
    /// The user's word on each of these calls (the ones one model round asked for that are not
    /// trusted), in the same order. A front end may answer some at once (a tool the user
    /// allowed "always" in this conversation).
    fn approve<'a>(&'a self, turn: u64, conversation_id: i64, calls: &'a [PendingCall])
    -> BoxFuture<'a, Vec<Approval>>;
}

/// How a turn uses tools.
#[derive(Clone, Default)]
pub struct ToolUse {
    pub selection: Selection,
    /// Model-tool rounds at most (`max_tool_steps`, default 10).
    pub max_steps: u32,
    /// `--approve-tools`: run every call of this run without asking.
    pub approve_all: bool,
    /// Who to ask; `None`: no one (a pipe), so untrusted calls are refused.
    pub approver: Option<Arc<dyn Approver>>,
}

impl std::fmt::Debug for ToolUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolUse")
            .field("selection", &self.selection)
            .field("max_steps", &self.max_steps)
            .field("approve_all", &self.approve_all)
            .field("approver", &self.approver.is_some())
            .finish()
    }
}

pub const DEFAULT_MAX_STEPS: u32 = 10;

/// A step of a tool turn, for its front end to show (raw text: sanitize before display).
#[derive(Debug, Clone, PartialEq)]
pub enum ToolStep {
    /// The model asked for this call; it is saved before it runs.
    Called { id: String, server: String, tool: String, arguments: Value },
    /// What the call gave (saved the moment it returned).
    Returned { id: String, result: Result<ToolOutput, ToolFailure> },
    /// The results go back to the model: round `round` of at most `max`.
    Round { round: u32, max: u32 },
    /// The turn used its `max` rounds; the model was asked to answer without tools.
    StepLimit { max: u32 },
    /// These servers did not start: the turn goes on with the others' tools (told before the
    /// turn is sent; each a [`ListError::ServerStopped`]).
    Unavailable { servers: Vec<ListError> },
}
