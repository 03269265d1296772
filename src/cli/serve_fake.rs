//! `geminal serve-fake` (hidden): runs the simulated Gemini (or, with `--openai`, the
//! OpenAI-compatible fake) as a server of its own, for whole-program benchmarks and manual
//! testing (`--base-url` another geminal at it, or a provider's `base_url`).

use std::time::Duration;

use clap::Args;

use super::exit::{self, Failure};
use super::output;
use crate::gemini::fake::{Answer, Behavior, FakeGemini, FakeOptions};

#[derive(Debug, Args)]
pub struct ServeFakeArgs {
    /// Answer with this many words of filler instead of the demo corpus.
    #[arg(long, value_name = "N")]
    pub words: Option<usize>,
    /// Split each answer into this many chunks.
    #[arg(long, value_name = "N")]
    pub chunks: Option<usize>,
    /// Spread each answer evenly over this many seconds (first token included).
    #[arg(long, value_name = "SECS", value_parser = crate::config::parse_seconds)]
    pub stream_secs: Option<Duration>,
    /// Serve the OpenAI-compatible fake instead (prints its base URL, ending in /v1).
    #[arg(long)]
    pub openai: bool,
}

pub async fn run(args: &ServeFakeArgs) -> Result<u8, Failure> {
    if args.openai {
        return run_openai(args).await;
    }
    let mut behavior = Behavior::demo();
    if let Some(words) = args.words {
        behavior = Behavior {
            answer: Answer::Words(words),
            natural_pace: false,
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            ..behavior
        };
    }
    if let Some(chunks) = args.chunks {
        behavior.chunks = Some(chunks);
    }
    if let Some(total) = args.stream_secs {
        let chunks = behavior.chunks.unwrap_or(20);
        behavior = Behavior { natural_pace: false, ..Behavior::paced(chunks, total) }.with_answer(behavior.answer);
    }
    let fake = FakeGemini::start(FakeOptions::default(), behavior)
        .await
        .map_err(|e| Failure::new(exit::FAILURE, format!("The fake server could not start ({e}).")))?;
    let _ = output::write_flush(&mut std::io::stdout(), format!("{}\n", fake.base_url()).as_bytes());
    let _ = tokio::signal::ctrl_c().await;
    Ok(exit::OK)
}

async fn run_openai(args: &ServeFakeArgs) -> Result<u8, Failure> {
    use crate::openai::fake::{FakeOpenAi, Options, Reply};
    let chunks = args.chunks.unwrap_or(20);
    let mut reply = match args.stream_secs {
        Some(total) => Reply::paced(chunks, total),
        None => Reply { chunks, ..Reply::default() },
    };
    if let Some(words) = args.words {
        reply.text = (0..words).map(|i| if i % 12 == 11 { "word.\n" } else { "word " }).collect();
    }
    let fake = FakeOpenAi::start(Options::default(), reply)
        .await
        .map_err(|e| Failure::new(exit::FAILURE, format!("The fake server could not start ({e}).")))?;
    let _ = output::write_flush(&mut std::io::stdout(), format!("{}\n", fake.base_url()).as_bytes());
    let _ = tokio::signal::ctrl_c().await;
    Ok(exit::OK)
}
