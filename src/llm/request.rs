//! A request in no provider's words: system text, messages made of parts, generation
//! parameters and tools. Each provider converts it to its wire in one place.

use serde_json::Value;

/// Who wrote a message of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Author {
    User,
    Assistant,
    /// Results of tools the assistant asked to run.
    Tool,
}

/// One message: its author and its parts, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub author: Author,
    pub parts: Vec<Part>,
}

impl Message {
    pub fn new(author: Author, parts: Vec<Part>) -> Self {
        Message { author, parts }
    }

    pub fn text(author: Author, text: impl Into<String>) -> Self {
        Message { author, parts: vec![Part::Text(text.into())] }
    }
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A thought summary, with the provider's opaque signature when it gave one (sent back
    /// unchanged so the model can continue its reasoning).
    Thought {
        text: String,
        signature: Option<String>,
    },
    /// Bytes of a media type, sent with the request.
    Media {
        mime: String,
        bytes: bytes::Bytes,
    },
    /// A file the provider already holds (uploaded earlier).
    File {
        mime: String,
        uri: String,
    },
    ToolCall(ToolCall),
    ToolResult(ToolResult),
}

/// A call of a tool the model asked for. `id` and `signature` are the provider's own and must
/// go back exactly as they came (Gemini 3 refuses a call returned without its signature).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: Option<String>,
    pub name: String,
    /// A JSON object.
    pub arguments: Value,
    pub signature: Option<String>,
}

/// What running a tool gave, for the call with the same `id` (and `name`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub id: Option<String>,
    pub name: String,
    /// A JSON object.
    pub response: Value,
}

/// How much the model may think before it answers: the user's choice, which each provider
/// maps to its own control (and refuses where its model cannot take it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Thinking {
    Off,
    Low,
    Medium,
    High,
    /// A budget in tokens, sent as given.
    Budget(u32),
}

impl std::fmt::Display for Thinking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Thinking::Off => f.write_str("off"),
            Thinking::Low => f.write_str("low"),
            Thinking::Medium => f.write_str("medium"),
            Thinking::High => f.write_str("high"),
            Thinking::Budget(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Thinking {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "0" => Ok(Thinking::Off),
            "low" => Ok(Thinking::Low),
            "medium" => Ok(Thinking::Medium),
            "high" => Ok(Thinking::High),
            other => other.parse::<u32>().map(Thinking::Budget).map_err(|_| {
                format!(
                    "thinking must be off, low, medium, high or a number of tokens, not \"{}\"",
                    crate::sanitize::one_line(text, 30)
                )
            }),
        }
    }
}

impl From<Thinking> for String {
    fn from(t: Thinking) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for Thinking {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// Generation parameters; `None` leaves the provider's default.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Params {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub max_tokens: Option<u32>,
    pub seed: Option<i64>,
    pub stop: Vec<String>,
    pub thinking: Option<Thinking>,
    /// Whether thought summaries are sent back.
    pub thoughts: bool,
    /// A JSON Schema the answer must follow (structured output).
    pub answer_schema: Option<Value>,
}

/// A tool the model may use.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolSpec {
    /// A function the caller runs: its name, what it does, and a JSON Schema of its arguments.
    Function { name: String, description: String, parameters: Value },
    /// The provider searches the web itself (Gemini's Google Search grounding).
    GoogleSearch,
    /// The provider reads the URLs in the prompt itself (Gemini's URL context).
    UrlContext,
}

/// Whether and which of the offered functions the model must call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the providers' default).
    #[default]
    Auto,
    /// The model may not call any.
    None,
    /// The model must call one of the offered functions.
    Required,
    /// The model must call one of these (by name).
    Only(Vec<String>),
}

/// One request for an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub params: Params,
    pub tools: Vec<ToolSpec>,
    /// How the model may use the offered functions.
    pub tool_choice: ToolChoice,
}
