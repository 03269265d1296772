//! What a provider says of a model, and what it can do.

/// One model a provider offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// The id the provider knows it by (no `models/` prefix).
    pub id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub input_token_limit: Option<u64>,
    pub output_token_limit: Option<u64>,
    pub capabilities: Capabilities,
}

/// What a provider can do with a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// It writes answers (chat); embedding-only and similar models do not.
    pub generates_text: bool,
    /// The provider counts a request's tokens before it is sent.
    pub counts_tokens: bool,
    /// Whether the model thinks (a thinking setting means something to it); `None`: not said.
    pub thinking: Option<bool>,
    /// Built-in Google Search grounding and URL context.
    pub built_in_tools: bool,
    /// Batch jobs and uploaded files (Gemini's Batch and Files APIs).
    pub batch_and_files: bool,
    /// Function tools.
    pub function_tools: bool,
}
