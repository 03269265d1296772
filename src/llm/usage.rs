//! Token counts of an answer, in the words every provider's usage maps to.

/// Token counts. Streams carry running totals; the last one wins (never sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_token_count: u32,
    /// Of the output, the visible answer (thoughts apart).
    pub candidates_token_count: u32,
    pub thoughts_token_count: u32,
    /// Of the prompt, the tokens read from a provider's cache.
    pub cached_content_token_count: u32,
    /// Of the prompt, what built-in tools added (search results, fetched pages).
    pub tool_use_prompt_token_count: u32,
    pub total_token_count: u32,
    /// Of the prompt, audio tokens.
    pub prompt_audio_token_count: u32,
    /// Of the cached tokens, audio.
    pub cached_audio_token_count: u32,
}
