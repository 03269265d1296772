//! `geminal` with no command when stdin or stdout is not a terminal: a line-by-line chat on
//! stdin/stdout, saved to the history like any other conversation. Each line is a turn run by
//! [`crate::turn`] (budgets checked before it, `timeout_secs` over it). Ctrl-C stops the current
//! answer; Ctrl-D or `/quit` leaves. A line starting with `/` is read with the interface's own
//! slash-command table ([`crate::commands`]): the commands that make sense on a line act, the
//! others and an unknown `/word` are refused and never sent; `//` sends a line that starts with `/`.

use std::io::IsTerminal;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::Connection;
use super::exit::{self, Failure};
use super::output::{self, AnswerPrinter, Delivery};
use super::signals::{Signals, Stop, StopExit, stopped_answer};
use super::words;
use crate::chat::ChatSession;
use crate::chat::{Notice, Outcome, Settings, Shown, Target};
use crate::turn::{BudgetPolicy, Refused, RoleChoice, System, TurnSpec, TurnUpdate, Update};

const HELP: &str = "Type a question and press Enter. /new starts a new conversation, /quit (or Ctrl-D) leaves, /help lists the commands; Ctrl-C stops an answer.";

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
    let mut chat = LineChat {
        conversation: open,
        system: None,
        model: None,
        role,
        role_dropped: false,
        settings: settings.clone(),
        last_model: config.model.clone(),
        last_system: config.system_prompt.clone(),
    };
    if let Some(launch) = chat.role.as_ref().filter(|l| !l.keep_model) {
        chat.last_model = launch.role.model.clone().unwrap_or_else(|| config.model.clone());
    }
    let runner = conn.runner(std::sync::Arc::new(session));
    let session = runner.session().clone();
    // The budgets were checked at launch, before the first prompt.
    let mut first = true;
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
        let prompt = match chat.read(line.trim(), &conn) {
            Line::Skip => continue,
            Line::Quit => break,
            Line::Rename(title) => {
                exit::say(&rename(&session, chat.conversation, title).await);
                continue;
            }
            Line::Send(prompt) => prompt,
        };
        let conversation = chat.conversation;
        let target = conversation.map_or(Target::New, Target::Conversation);
        let role = match (&chat.role, chat.role_dropped) {
            (Some(launch), _) => RoleChoice::Use(Box::new(launch.role.clone())),
            // `/role none`: a continued conversation does not go on with its saved role.
            (None, true) => RoleChoice::Nothing,
            // A continued conversation goes on with the role it was saved with (while it exists).
            (None, false) => RoleChoice::Saved,
        };
        let mut spec = TurnSpec {
            model: chat.model.clone().or_else(|| config.model_explicit.then(|| config.model.clone())),
            keep_model: chat.model.is_some() || chat.role.as_ref().is_some_and(|launch| launch.keep_model),
            system: match &chat.system {
                Some(set) => System::Set(set.clone()),
                None => System::Default(config.system_prompt.clone()),
            },
            role,
            settings: chat.settings.clone(),
            // Every prompt is checked against the budgets (the first was, at launch) and holds its
            // worst case while it runs.
            budget: BudgetPolicy { check: !first, ..BudgetPolicy::per_turn(budgets, false) },
            deadline: config.total_timeout,
            ..TurnSpec::new(target, prompt)
        };
        first = false;
        // The config's tools, or the role's (given, or the continued conversation's).
        spec.tools.selection = config.tools.clone();
        spec.tools.max_steps = config.max_tool_steps;
        spec.role_tools = true;
        spec.tools.approver = super::tool_steps::terminal_approver();
        let mut turn = runner.start(spec);
        let mut tool_lines = super::tool_steps::StepLines::default();
        let mut printer: Option<AnswerPrinter> = None;
        let mut stopped = None;
        let report = loop {
            let update = tokio::select! {
                update = turn.next() => update,
                stop = signals.recv() => {
                    stopped.get_or_insert(stop);
                    turn.cancel();
                    continue;
                }
            };
            let Some(TurnUpdate { update, .. }) = update else { break None };
            match update {
                Update::BudgetNear(near) => exit::say(&words::near_text(&near)),
                Update::OverBudget(refusal) => exit::say(&words::over_budget_text(&refusal)),
                Update::NotCounted => exit::say(words::NOT_COUNTED),
                Update::Composed(composed) => {
                    chat.last_model = composed.model;
                    chat.last_system = composed.system;
                }
                Update::Uploading(_) => {}
                // A conversation longer than the model takes: its newest turns only.
                Update::Shown(Shown::Notice(Notice::ContextTrimmed(trimmed))) => exit::say(&trimmed.to_string()),
                // Tool steps on stderr, one line each.
                Update::Shown(Shown::Tool(step)) => {
                    let line = tool_lines.line(&step);
                    if let Some(printer) = printer.as_mut() {
                        printer.show(Shown::Tool(step));
                    }
                    exit::say(&line);
                }
                Update::Shown(shown) => printer
                    .get_or_insert_with(|| {
                        // A pipe gets each answer once, whole; a terminal sees it stream.
                        AnswerPrinter::new(false, Delivery::for_stdout(false))
                            .waiting_for(&chat.last_model, &config.names)
                    })
                    .show(shown),
                // A conversation that cannot be read or is too long ends the chat.
                Update::Refused(refused @ (Refused::Chat(_) | Refused::Context(_))) => {
                    return Err(words::refused(refused));
                }
                // Nothing was sent: the line is refused, the chat goes on (a `/set` can mend
                // it; a budget may have room later).
                Update::Refused(refused) => {
                    exit::say(&words::refused_line(refused));
                    break None;
                }
                Update::Done(report) => break Some(*report),
            }
        };
        let Some(report) = report else { continue };
        let mut printer = printer.unwrap_or_else(|| {
            AnswerPrinter::new(false, Delivery::for_stdout(false)).waiting_for(&chat.last_model, &config.names)
        });
        if let Some(grounding) = &report.grounding {
            printer.sources(&report.text, grounding);
        }
        printer.finish();
        if printer.pipe_closed() {
            return Ok(exit::OK);
        }
        chat.conversation = report.conversation_id.or(conversation);
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

/// What the line chat goes on with between lines: the conversation, and what its slash commands
/// set (over the launch flags and the config).
struct LineChat {
    conversation: Option<i64>,
    /// `/system`: `Some(None)` cleared, `Some(Some(text))` set; `None` leaves the conversation's
    /// own (else the config's).
    system: Option<Option<String>>,
    /// `/model NAME`.
    model: Option<String>,
    role: Option<LaunchRole>,
    /// `/role none`: a continued conversation does not go on with the role it was saved with.
    role_dropped: bool,
    /// The launch flags' settings, then what `/set`, `/thinking`, `/search`... changed.
    settings: Settings,
    /// The model and system prompt the last line was sent with (what `/model` and `/system` show).
    last_model: String,
    last_system: Option<String>,
}

/// What a line read in the chat comes to.
#[derive(Debug, PartialEq)]
enum Line {
    /// A command done (or refused), or an empty line: nothing to send.
    Skip,
    Quit,
    /// `/rename TITLE`: done by the loop, which can wait for the history.
    Rename(String),
    Send(String),
}

impl LineChat {
    /// Reads one trimmed line: a prompt to send, or a command done here (its sentence on stderr).
    fn read(&mut self, line: &str, conn: &Connection) -> Line {
        let command = match line {
            "" => return Line::Skip,
            "/quit" | "/exit" => return Line::Quit,
            _ => match crate::commands::parse(line) {
                None => return Line::Send(line.to_owned()),
                Some(crate::commands::Slash::Literal(text)) => return Line::Send(text),
                Some(crate::commands::Slash::Rename(title)) => return Line::Rename(title),
                Some(command) => command,
            },
        };
        if let Some(refused) = crate::commands::command_of(line).filter(|c| !c.on_a_line) {
            let name = refused.name;
            exit::say(&format!("{name} works in the full-screen interface only (not on a line); nothing was sent."));
            return Line::Skip;
        }
        self.command(command, conn);
        Line::Skip
    }

    fn command(&mut self, command: crate::commands::Slash, conn: &Connection) {
        use crate::commands::Slash;
        let config = &conn.config;
        let said = match command {
            Slash::Help => {
                let mut lines = vec![HELP.to_owned()];
                for c in crate::commands::COMMANDS.iter().filter(|c| c.on_a_line) {
                    // The table speaks of tabs and pickers; here it is the chat and a line.
                    let what = c
                        .what
                        .replace("this tab's", "the chat's")
                        .replace("in this tab", "here")
                        .replace("without a name: the picker", "alone: shows it")
                        .replace("alone: pick one", "alone: lists them")
                        .replace("every key and command", "these commands");
                    lines.push(format!("  {} {}: {what}", c.name, c.args).replace(" :", ":"));
                }
                lines.push("  //TEXT: sends /TEXT as a prompt".to_owned());
                eprintln!("{}", lines.join("\n"));
                return;
            }
            Slash::ShowSystem => match self.shown_system() {
                Some(system) => format!("system prompt: {} (/system clear removes it).", one_line(system, 200)),
                None => "no system prompt: /system TEXT sets one.".to_owned(),
            },
            Slash::ClearSystem => {
                self.system = Some(None);
                "system prompt cleared.".to_owned()
            }
            Slash::SetSystem(text) => {
                self.system = Some(Some(text));
                "system prompt set.".to_owned()
            }
            Slash::ModelPicker => format!("the model is {} (/model NAME changes it).", one_line(&self.last_model, 60)),
            Slash::Model(name) => {
                let name = conn.providers.names().canonical(&name);
                let said = format!("the next prompts go to {}.", one_line(&name, 60));
                self.last_model = name.clone();
                self.model = Some(name);
                said
            }
            Slash::Clear => {
                self.conversation = None;
                "new conversation.".to_owned()
            }
            // `read` hands it to the loop.
            Slash::Rename(_) => return,
            // Not on a line (the table says so): `read` refused them.
            Slash::Export(_)
            | Slash::Attach(_)
            | Slash::ShowAttachments
            | Slash::ClearAttachments
            | Slash::Tools(_) => {
                return;
            }
            Slash::MissingArgument(name) => {
                let args = crate::commands::COMMANDS.iter().find(|c| c.name == name).map_or("", |c| c.args);
                format!("{name} needs {args}; nothing was sent.")
            }
            Slash::Unknown(word) => format!(
                "{} is not a command (/help lists them), so nothing was sent; start with // to send a line that begins with /.",
                one_line(&word, 30)
            ),
            // `parse` gives it back as the text to send; `read` sent it.
            Slash::Literal(_) => return,
            Slash::Thinking(None) => match self.settings.thinking {
                Some(t) => format!("thinking: {t} (/thinking off|low|medium|high|N changes it)."),
                None => "thinking: the model's default (/thinking off|low|medium|high|N changes it).".to_owned(),
            },
            Slash::Thinking(Some(level)) => self.set("thinking", &level),
            Slash::Thoughts(on) => {
                let on = on.unwrap_or(!self.settings.shows_thoughts());
                self.set("thoughts", if on { "on" } else { "off" })
            }
            Slash::Set(None) => match self.settings.summary() {
                summary if summary.is_empty() => {
                    format!("no settings of this chat's own: /set NAME VALUE ({}).", crate::chat::registry::names())
                }
                summary => format!("this chat: {summary}."),
            },
            Slash::Set(Some((name, value))) => self.set(&name, &value),
            Slash::Role(None) => {
                let names: Vec<&str> = config.roles.iter().map(|r| r.name.as_str()).collect();
                let current = self.role.as_ref().map(|l| format!(" (now: {})", l.role.name)).unwrap_or_default();
                if names.is_empty() {
                    "no roles are defined: add [roles.NAME] to the config file, or a roles/NAME.md file beside it."
                        .to_owned()
                } else {
                    format!(
                        "roles: {}{current}; /role NAME answers as one, /role none as none.",
                        one_line(&names.join(", "), 300)
                    )
                }
            }
            Slash::Role(Some(name)) if name.eq_ignore_ascii_case("none") => {
                self.role = None;
                self.role_dropped = true;
                "no role from now on.".to_owned()
            }
            Slash::Role(Some(name)) => match config.role(&name) {
                Ok(role) => {
                    let said = format!("answering as {} from now on.", one_line(&role.name, 40));
                    if let Some(model) = role.model.as_ref().filter(|_| self.model.is_none()) {
                        self.last_model = model.clone();
                    }
                    let keep_model = self.role.as_ref().is_some_and(|l| l.keep_model);
                    self.role = Some(LaunchRole { role: role.clone(), keep_model });
                    // The role's prompt becomes the system prompt.
                    self.system = None;
                    said
                }
                Err(e) => e,
            },
        };
        exit::say(&said);
    }

    /// The system prompt the next line goes with, as far as it is known here.
    fn shown_system(&self) -> Option<&str> {
        match &self.system {
            Some(set) => set.as_deref(),
            None => match &self.role {
                Some(launch) if launch.role.prompt.is_some() => launch.role.system_instruction(),
                _ => self.last_system.as_deref(),
            },
        }
    }

    /// `/set NAME VALUE` (and the commands that are one): checked against the model at once,
    /// so a setting the model refuses is never kept.
    fn set(&mut self, name: &str, value: &str) -> String {
        let mut next = self.settings.clone();
        let said = match next.set(name, value) {
            Ok(said) => said,
            Err(e) => return e.to_string(),
        };
        let checked = next.params().and_then(|params| {
            crate::provider::check_params(&self.last_model, &params).map_err(crate::chat::SettingsError)
        });
        if let Err(e) = checked {
            return e.to_string();
        }
        self.settings = next;
        said
    }
}

/// `/rename TITLE`: renames the conversation of the chat; the sentence to say.
async fn rename(session: &ChatSession, conversation: Option<i64>, title: String) -> String {
    let (Some(id), Some(store)) = (conversation, session.store()) else {
        return "nothing to rename yet: the conversation is saved with its first prompt.".to_owned();
    };
    let shown = one_line(&title, 60);
    match store.call(move |s| s.rename_conversation(id, &title)).await {
        Ok(()) => format!("conversation {id} is now \"{shown}\"."),
        Err(e) => e.to_string(),
    }
}

fn one_line(text: &str, max: usize) -> String {
    crate::sanitize::one_line(text, max)
}
