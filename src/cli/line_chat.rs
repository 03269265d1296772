//! `geminal` with no command: a line-by-line chat on stdin/stdout, keeping the conversation
//! in memory. (The full-screen interface replaces this on a terminal once it lands.)
//! Ctrl-C stops the current answer; Ctrl-D or `/quit` leaves.

use std::io::IsTerminal;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::exit::{self, Failure};
use super::output::{self, Spinner, Streamed};
use super::{GlobalArgs, connect};
use crate::chat::{Message, Role, Turn};

const HELP: &str = "Type a question and press Enter. /new starts a new conversation, /quit (or Ctrl-D) leaves; Ctrl-C stops an answer.";

pub async fn run(global: &GlobalArgs) -> Result<u8, Failure> {
    let conn = connect(global, None).await?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive {
        eprintln!(
            "geminal {}: chatting with {}. {HELP}",
            env!("CARGO_PKG_VERSION"),
            crate::sanitize::one_line(&conn.config.model, 60)
        );
    }
    let mut history: Vec<Message> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            let _ = output::write_flush(&mut std::io::stdout(), b"\n> ");
        }
        let line = tokio::select! {
            line = lines.next_line() => line,
            _ = tokio::signal::ctrl_c() => return Ok(exit::INTERRUPTED),
        };
        let Ok(Some(line)) = line else { break };
        let prompt = line.trim();
        match prompt {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                history.clear();
                eprintln!("geminal: new conversation.");
                continue;
            }
            "/help" | "?" => {
                eprintln!("{HELP}");
                continue;
            }
            _ => {}
        }
        let mut turn = Turn::new(conn.config.model.clone(), prompt);
        turn.system = conn.config.system_prompt.clone();
        turn.history = history.clone();
        let mut streamed = Streamed::default();
        let mut spinner = Spinner::start("waiting for Gemini…");
        let mut stdout = std::io::stdout();
        let answer = async {
            let mut stream = turn.start(&conn.client).await?;
            output::stream_to(&mut stream, &mut stdout, false, &mut spinner, &mut streamed).await
        };
        let outcome = tokio::select! {
            result = answer => Some(result),
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
            Some(Ok(())) => {}
            Some(Err(e)) => eprintln!("geminal: {e}"),
            None => eprintln!("geminal: answer stopped."),
        }
        if !interactive {
            let _ = output::write_flush(&mut std::io::stdout(), b"\n");
        }
        // A stopped or failed answer stays in the conversation as far as it got.
        history.push(Message {
            role: Role::User,
            text: prompt.to_owned(),
        });
        history.push(Message {
            role: Role::Model,
            text: streamed.text,
        });
    }
    Ok(exit::OK)
}
