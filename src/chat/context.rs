//! Context: whether a turn's request fits the model's input limit, and what to do when it does
//! not (`context_overflow`): leave the oldest turns out of what is sent (never out of the
//! history), or refuse. Pure functions; `ChatSession::fit_context` asks the server for the
//! limit and the count, only when the local estimate comes near the limit.

use serde::Deserialize;

use super::Turn;

/// What to do with a conversation longer than the model's input limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContextOverflow {
    /// Send only the newest turns that fit, and say how many were left out.
    #[default]
    DropOldest,
    /// Send nothing, and say to start a new conversation.
    Refuse,
}

impl std::fmt::Display for ContextOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContextOverflow::DropOldest => "drop-oldest",
            ContextOverflow::Refuse => "refuse",
        })
    }
}

/// Below this local estimate no limit is looked up: every Gemini model that chats takes more.
pub const CHECK_FROM_TOKENS: u64 = 4_000;

/// A local estimate of the tokens `turn` sends: about four characters (or bytes of a text
/// attachment) a token, and at least an image's 258 for any other attachment.
pub fn estimate_tokens(turn: &Turn) -> u64 {
    let chars: usize = turn.history.iter().map(|m| m.text.chars().count()).sum::<usize>()
        + turn.prompt.chars().count()
        + turn.system.as_deref().map_or(0, |s| s.chars().count());
    let attached: u64 =
        turn.all_attachments().map(|a| if a.info.is_text() { a.info.size.div_ceil(4) } else { 258 }).sum();
    (chars as u64).div_ceil(4) + attached
}

/// Tokens a budget reserves for an image: Gemini bills an image by its 768-pixel tiles (258
/// tokens each); sixteen tiles bound any image it takes at default resolution.
const IMAGE_TOKENS_BOUND: u64 = 16 * 258;
/// Bytes per token a budget assumes for audio, video and documents: fewer tokens than this
/// would be billed for any of them (audio is 32 tokens a second, video 263, a PDF page 258).
const MEDIA_BYTES_PER_TOKEN: u64 = 8;
/// Tokens a budget adds per message and per tool for the request's own structure.
const STRUCTURE_TOKENS: u64 = 8;

/// An estimate from above of the tokens `turn` is billed for as input, for a budget's
/// reservation: everything that is sent (history, system prompt, prompt, every attachment,
/// the generation settings and tools), text at three characters a token.
pub fn worst_prompt_tokens(turn: &Turn) -> u64 {
    let text = |chars: usize| (chars as u64).div_ceil(3);
    let messages = turn.history.iter().map(|m| text(m.text.chars().count())).sum::<u64>()
        + text(turn.prompt.chars().count())
        + turn.system.as_deref().map_or(0, |s| text(s.chars().count()));
    let attachments: u64 = turn
        .all_attachments()
        .map(|a| {
            let size = a.info.size;
            if a.info.is_text() {
                size.div_ceil(3) + text(a.info.name.chars().count()) + STRUCTURE_TOKENS
            } else if a.info.mime.starts_with("image/") {
                IMAGE_TOKENS_BOUND
            } else {
                size.div_ceil(MEDIA_BYTES_PER_TOKEN).max(258)
            }
        })
        .sum();
    let settings = super::cache_key::settings_json(&turn.params).map_or(0, |j| text(j.len()));
    let structure = (turn.history.len() as u64 + 1 + turn.tools.len() as u64) * STRUCTURE_TOKENS;
    messages + attachments + settings + structure
}

/// Whether an estimate is near enough to `limit` (within 20%) to ask the server for the count.
pub fn worth_counting(estimate: u64, limit: u64) -> bool {
    estimate.saturating_mul(5) >= limit.saturating_mul(4)
}

/// Tokens as people read them in a status bar: "950", "12k", "1M".
pub fn short_tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{}k", (n + 500) / 1_000),
        _ if n.is_multiple_of(1_048_576) => format!("{}M", n / 1_048_576),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// Why a turn was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error(
        "This conversation is about {tokens} tokens, over {model}'s input limit of {limit}: start a new conversation (/clear in the interface), or set context_overflow = \"drop-oldest\" to send only its newest turns."
    )]
    Refused { model: String, tokens: u64, limit: u64 },
    #[error(
        "The prompt alone is about {tokens} tokens, over {model}'s input limit of {limit}: shorten it or split it into parts."
    )]
    PromptTooLong { model: String, tokens: u64, limit: u64 },
}

/// What fitting did to a turn that would not have fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    pub model: String,
    /// Earlier exchanges (a prompt and its answer) left out of what is sent.
    pub dropped: usize,
    pub limit: u64,
}

impl std::fmt::Display for Trimmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (turns, them) = if self.dropped == 1 { ("exchange was", "it") } else { ("exchanges were", "them") };
        write!(
            f,
            "This conversation is longer than {}'s input limit of {} tokens: its oldest {} {turns} left out of what was sent (the history keeps {them}).",
            crate::sanitize::one_line(&self.model, 60),
            self.limit,
            self.dropped
        )
    }
}

/// Makes `turn` fit `limit` given that the server counted `counted` tokens for it: under
/// drop-oldest, earlier exchanges leave the request, oldest first, until the rest fits (each
/// weighed by the local estimate scaled to the server's count); under refuse, nothing is sent.
/// `Ok(None)` when it fits as it is.
pub fn fit(
    turn: &mut Turn,
    counted: u64,
    limit: u64,
    policy: ContextOverflow,
) -> Result<Option<Trimmed>, ContextError> {
    if counted <= limit {
        return Ok(None);
    }
    let model = crate::sanitize::one_line(&turn.model, 60);
    let estimate = estimate_tokens(turn).max(1);
    let scale = counted as f64 / estimate as f64;
    let scaled = |t: &Turn| (estimate_tokens(t) as f64 * scale).ceil() as u64;
    let mut alone = turn.clone();
    alone.history.clear();
    if scaled(&alone) > limit {
        return Err(ContextError::PromptTooLong { model, tokens: scaled(&alone), limit });
    }
    if policy == ContextOverflow::Refuse {
        return Err(ContextError::Refused { model, tokens: counted, limit });
    }
    let mut dropped = 0;
    while scaled(turn) > limit && !turn.history.is_empty() {
        // History holds exchanges: a user message and the answer after it.
        let n = turn.history.len().min(2);
        turn.history.drain(..n);
        dropped += 1;
    }
    Ok(Some(Trimmed { model, dropped, limit }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Author, Message};

    fn turn(exchanges: usize, chars: usize) -> Turn {
        let mut t = Turn::new("m", "x".repeat(chars));
        for _ in 0..exchanges {
            t.history.push(Message::new(Author::User, "q".repeat(chars)));
            t.history.push(Message::new(Author::Model, "a".repeat(chars)));
        }
        t
    }

    #[test]
    fn a_turn_that_fits_is_left_alone() {
        let mut t = turn(2, 400);
        assert_eq!(fit(&mut t, 500, 1000, ContextOverflow::Refuse), Ok(None));
        assert_eq!(t.history.len(), 4);
    }

    #[test]
    fn drop_oldest_leaves_out_whole_exchanges_from_the_start() {
        let mut t = turn(3, 400); // 7 messages of 100 tokens
        t.history[0].text = "first".repeat(80);
        let trimmed = fit(&mut t, 700, 450, ContextOverflow::DropOldest).unwrap().unwrap();
        assert_eq!(trimmed.dropped, 2);
        assert_eq!(t.history.len(), 2, "the newest exchange stays");
        assert!(t.history.iter().all(|m| !m.text.starts_with("first")));
        assert!(trimmed.to_string().contains("oldest 2 exchanges were left out"), "{trimmed}");
    }

    #[test]
    fn refuse_sends_nothing_and_says_how_to_go_on() {
        let mut t = turn(3, 400);
        let e = fit(&mut t, 700, 450, ContextOverflow::Refuse).unwrap_err().to_string();
        assert!(e.contains("start a new conversation") && e.contains("450"), "{e}");
        assert_eq!(t.history.len(), 6);
    }

    #[test]
    fn a_prompt_too_long_on_its_own_is_refused_either_way() {
        let mut t = turn(1, 4000);
        let e = fit(&mut t, 3000, 800, ContextOverflow::DropOldest).unwrap_err();
        assert!(matches!(e, ContextError::PromptTooLong { .. }), "{e}");
    }

    #[test]
    fn only_estimates_near_the_limit_are_counted() {
        assert!(!worth_counting(790, 1000) && worth_counting(800, 1000) && worth_counting(2000, 1000));
        assert_eq!(estimate_tokens(&Turn::new("m", "abcdefgh")), 2);
    }

    #[test]
    fn token_counts_read_short() {
        assert_eq!(short_tokens(950), "950");
        assert_eq!(short_tokens(12_400), "12k");
        assert_eq!(short_tokens(1_048_576), "1M");
        assert_eq!(short_tokens(2_500_000), "2.5M");
    }

    #[test]
    fn a_budget_reserves_for_everything_sent_not_only_the_prompt() {
        let bare = worst_prompt_tokens(&Turn::new("m", "q".repeat(300)));
        // 300 characters at three a token, and the prompt's own structure.
        assert_eq!(bare, 100 + STRUCTURE_TOKENS);
        let mut t = turn(1, 300);
        t.system = Some("s".repeat(30));
        t.attachments.push(crate::attach::from_bytes("notes.txt", vec![b'a'; 200_000]).unwrap());
        // Two earlier messages, the system prompt, 200,000 bytes of text and its name.
        let expected = 3 * 100 + 10 + 66_667 + 3 + STRUCTURE_TOKENS + 3 * STRUCTURE_TOKENS;
        assert_eq!(worst_prompt_tokens(&t), expected);
        // The context estimate counts the attachment too (four bytes a token), below the worst case.
        assert!(estimate_tokens(&t) >= 50_000, "{}", estimate_tokens(&t));
        assert!(worst_prompt_tokens(&t) > estimate_tokens(&t));
    }
}
