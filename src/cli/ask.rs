//! `geminal ask`: one question, the answer streamed to stdout as it arrives.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use clap::Args;

use super::exit::{self, Failure};
use super::output::{self, Spinner, Streamed};
use super::{GlobalArgs, connect};
use crate::chat::Turn;
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
        std::io::stdin()
            .read_to_string(&mut stdin_text)
            .map_err(|e| {
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
        args.prompt
            .iter()
            .map(|p| if p == "-" { stdin_text } else { p.as_str() })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if prompt.trim().is_empty() {
        return Err(Failure::usage(
            "The prompt is empty: give a question as an argument or on stdin.",
        ));
    }
    Ok(prompt)
}

pub async fn run(global: &GlobalArgs, args: &AskArgs) -> Result<u8, Failure> {
    let prompt = read_prompt(args)?;
    let conn = connect(global, args.timeout).await?;
    let mut turn = Turn::new(conn.config.model.clone(), prompt);
    turn.system = args.system.clone().or(conn.config.system_prompt.clone());

    let mut stdout = std::io::stdout();
    let mut streamed = Streamed::default();
    let mut spinner = Spinner::start("waiting for Gemini…");
    let answer = async {
        let mut stream = turn.start(&conn.client).await?;
        output::stream_to(
            &mut stream,
            &mut stdout,
            args.raw,
            &mut spinner,
            &mut streamed,
        )
        .await
    };
    let total = conn.config.total_timeout;
    let outcome = tokio::select! {
        result = async {
            match total {
                Some(limit) => tokio::time::timeout(limit, answer).await.unwrap_or(Err(ApiError::Timeout { phase: TimeoutPhase::Total, after: limit })),
                None => answer.await,
            }
        } => Some(result),
        _ = tokio::signal::ctrl_c() => None,
    };
    spinner.stop();
    if streamed.pipe_closed {
        return Ok(exit::OK);
    }
    if !streamed.ends_with_newline {
        let _ = output::write_flush(&mut std::io::stdout(), b"\n");
    }
    match outcome {
        Some(Ok(())) => Ok(exit::OK),
        Some(Err(e)) => Err(e.into()),
        None => Err(Failure::new(
            exit::INTERRUPTED,
            "Stopped: the answer was interrupted.",
        )),
    }
}
