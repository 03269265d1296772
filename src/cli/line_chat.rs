//! `geminal` with no command: a line-by-line chat on stdin/stdout, saved to the history like
//! any other conversation. (The full-screen interface replaces this on a terminal once it
//! lands.) Ctrl-C stops the current answer; Ctrl-D or `/quit` leaves.

use std::io::IsTerminal;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::Connection;
use super::exit::{self, Failure};
use super::output::{self, AnswerPrinter, Delivery};
use super::signals::{Signals, Stop, stopped_answer};
use crate::chat::ChatSession;
use crate::chat::{Outcome, Settings, Target, TurnEvent};

const HELP: &str = "Type a question and press Enter. /new starts a new conversation, /quit (or Ctrl-D) leaves; Ctrl-C stops an answer.";

/// The role given at launch (`geminal -r NAME`).
pub struct LaunchRole {
    pub role: crate::chat::NamedRole,
    /// A `--model` flag was given: it wins over the role's model.
    pub keep_model: bool,
}

/// Chats on stdin/stdout, continuing conversation `open` if given (`-c`, `--conversation N`),
/// answering as `role` if given; each answer holds its worst case against `budgets` while it runs.
pub async fn run(
    conn: Connection,
    session: ChatSession,
    open: Option<i64>,
    settings: &Settings,
    role: Option<LaunchRole>,
    budgets: crate::config::Budgets,
) -> Result<u8, Failure> {
    // Ctrl-C stops an answer and the chat goes on; SIGTERM and SIGHUP stop it and end the chat.
    let mut signals = Signals::new()?;
    let config = &conn.config;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive {
        let model = match &role {
            Some(launch) if !launch.keep_model => launch.role.model.as_deref().unwrap_or(&config.model),
            _ => &config.model,
        };
        let as_role = role.as_ref().map(|launch| format!(" as {}", launch.role.name)).unwrap_or_default();
        eprintln!(
            "geminal {}: chatting with {}{as_role}. {HELP}",
            env!("CARGO_PKG_VERSION"),
            crate::sanitize::one_line(model, 60)
        );
    }
    let mut conversation: Option<i64> = open;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            let _ = output::write_flush(&mut std::io::stdout(), b"\n> ");
        }
        let line = tokio::select! {
            line = lines.next_line() => line,
            stop = signals.recv() => return Ok(stop.exit_code()),
        };
        let Ok(Some(line)) = line else { break };
        let prompt = line.trim();
        match prompt {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                conversation = None;
                eprintln!("geminal: new conversation.");
                continue;
            }
            "/help" | "?" => {
                eprintln!("{HELP}");
                continue;
            }
            _ => {}
        }
        let target = conversation.map_or(Target::New, Target::Conversation);
        let model = config.model_explicit.then(|| config.model.clone());
        let mut prepared =
            session.prepare(target, prompt.to_owned(), model, &config.model, config.system_prompt.clone()).await?;
        let configured = match (&role, prepared.role.clone()) {
            (Some(launch), _) => prepared.use_role(&launch.role, launch.keep_model, false, settings),
            (None, saved) => {
                // A continued conversation goes on with the role it was saved with (while it exists).
                if let Some(role) = saved.and_then(|name| config.role(&name).ok().cloned()) {
                    prepared.continue_role(&role, false);
                }
                prepared.configure(settings)
            }
        };
        if let Err(e) = configured {
            // The settings do not change between lines: the chat cannot go on.
            return Err(Failure::usage(e.to_string()));
        }
        // A conversation longer than the model takes: its newest turns only, or nothing.
        match session.fit_context(&mut prepared).await {
            Ok(Some(trimmed)) => exit::say(&trimmed.to_string()),
            Ok(None) => {}
            Err(e) => return Err(Failure::new(exit::REQUEST, e.to_string())),
        }
        // A pipe gets each answer once, whole; a terminal sees it stream.
        let mut printer =
            AnswerPrinter::new(false, Delivery::for_stdout(false)).waiting_for(&prepared.turn.model, &config.names);
        let mut stopped = None;
        let cancel = async {
            stopped = Some(signals.recv().await);
            TurnEvent::Cancelled
        };
        // Nothing left of a budget (spent, or held by requests still running): not sent, and
        // the chat goes on.
        let hold = match session.hold(&prepared, budgets.daily, budgets.monthly).await {
            Ok(hold) => hold,
            Err(refusal) => {
                exit::say(&super::batch_budget::refusal_text(&refusal));
                continue;
            }
        };
        let report = session.run(prepared, &mut |shown| printer.show(shown), cancel).await;
        session.release(hold).await;
        if let Some(grounding) = &report.grounding {
            printer.sources(&report.text, grounding);
        }
        printer.finish();
        if printer.pipe_closed() {
            return Ok(exit::OK);
        }
        conversation = report.conversation_id.or(conversation);
        match report.outcome {
            Outcome::Complete => {}
            Outcome::Failed(e) => eprintln!("geminal: {e}"),
            Outcome::Cancelled => match stopped {
                Some(stop @ (Stop::Terminate | Stop::HangUp)) => return Err(stopped_answer(stop)),
                _ => eprintln!("geminal: answer stopped."),
            },
        }
        if let Some(e) = report.save_error {
            eprintln!("geminal: {e}");
        }
        if !interactive {
            let _ = output::write_flush(&mut std::io::stdout(), b"\n");
        }
    }
    Ok(exit::OK)
}
