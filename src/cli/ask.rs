//! `geminal ask`: one question, the answer streamed to stdout as it arrives and saved to the
//! history as it grows; a repeated question is answered from the cache.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use clap::Args;

use super::exit::{self, Failure};
use super::output::AnswerPrinter;
use super::{GlobalArgs, open_session};
use crate::chat::{Outcome, Target, TurnEvent};
use crate::config::parse_seconds;
use crate::gemini::{ApiError, TimeoutPhase};

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question. Without it, the prompt is read from stdin; a lone `-` stands for stdin.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// A system instruction for this answer (overrides the config file's system_prompt).
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Continue the most recent conversation.
    #[arg(short = 'c', long = "continue", conflicts_with = "conversation")]
    pub continue_last: bool,
    /// Continue conversation ID (see `geminal history`).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<i64>,
    /// Ask Gemini even if the answer is in the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not save this question and answer in the history.
    #[arg(long)]
    pub no_save: bool,
    /// Print the model's text byte for byte, control characters included (unsafe on a terminal).
    #[arg(long)]
    pub raw: bool,
    /// Seconds allowed for the whole answer.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

/// The prompt from the arguments, stdin, or both (`-` marks where stdin goes).
fn read_prompt(args: &AskArgs) -> Result<String, Failure> {
    let wants_stdin = args.prompt.is_empty() || args.prompt.iter().any(|p| p == "-");
    let mut stdin_text = String::new();
    if wants_stdin {
        if std::io::stdin().is_terminal() && args.prompt.is_empty() {
            return Err(Failure::usage(
                "No prompt given: run `geminal ask \"your question\"` or pipe text in (`echo question | geminal ask`).",
            ));
        }
        std::io::stdin().read_to_string(&mut stdin_text).map_err(|e| {
            Failure::usage(format!(
                "The prompt on stdin could not be read ({}): pass it as an argument instead.",
                e.kind()
            ))
        })?;
    }
    let stdin_text = stdin_text.trim_end_matches(['\n', '\r']);
    let prompt = if args.prompt.is_empty() {
        stdin_text.to_owned()
    } else {
        args.prompt.iter().map(|p| if p == "-" { stdin_text } else { p.as_str() }).collect::<Vec<_>>().join(" ")
    };
    if prompt.trim().is_empty() {
        return Err(Failure::usage("The prompt is empty: give a question as an argument or on stdin."));
    }
    Ok(prompt)
}

pub async fn run(global: &GlobalArgs, args: &AskArgs) -> Result<u8, Failure> {
    let prompt = read_prompt(args)?;
    let (conn, session) = open_session(global, args.timeout, args.no_cache, args.no_save).await?;
    let target = match (args.conversation, args.continue_last) {
        (Some(id), _) => Target::Conversation(id),
        (None, true) => Target::Last,
        (None, false) => Target::New,
    };
    let config = &conn.config;
    let model = config.model_explicit.then(|| config.model.clone());
    // A continued conversation keeps its own system prompt unless --system is given.
    let default_system = if target == Target::New { config.system_prompt.clone() } else { None };
    let prepared =
        session.prepare(target, prompt, model, &config.model, args.system.clone().or(default_system)).await?;

    let mut printer = AnswerPrinter::new(args.raw);
    let total = config.total_timeout;
    let cancel = async {
        let deadline = async {
            match total {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => TurnEvent::Cancelled,
            _ = deadline => TurnEvent::Failed(ApiError::Timeout { phase: TimeoutPhase::Total, after: total.unwrap_or_default() }),
        }
    };
    let report = session.run(prepared, &mut |shown| printer.show(shown), cancel).await;
    printer.finish();
    if printer.pipe_closed() {
        return Ok(exit::OK);
    }
    match report.outcome {
        Outcome::Complete => match report.save_error {
            Some(e) => Err(e.into()),
            None => Ok(exit::OK),
        },
        Outcome::Failed(e) => Err(e.into()),
        Outcome::Cancelled => {
            Err(Failure::new(exit::INTERRUPTED, "Stopped: the answer was interrupted and saved as far as it got."))
        }
    }
}
