//! `geminal ask`: one question, the answer streamed to a terminal as it arrives (held whole for
//! a pipe or file, so it receives exactly one answer) and saved to the history as it grows; a
//! repeated question is answered from the cache.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::exit::{self, Failure};
use super::generation::{GenerationArgs, read_json_schema};
use super::output::{AnswerPrinter, Delivery, UploadBar};
use super::signals::{Signals, Stop, StopExit, stopped_answer};
use super::words;
use super::{ConnectArgs, GlobalArgs, HistoryUse, open_session};
use crate::attach::{self, Attachment};
use crate::chat::json_answer_problem;
use crate::chat::{Notice, Outcome, Shown, Target};
use crate::config::parse_seconds;
use crate::turn::{BudgetPolicy, Composed, RoleChoice, System, TurnSpec, TurnUpdate, Update};

#[derive(Debug, Args)]
#[command(
    after_help = "Stdin: without a PROMPT the question is read from stdin; with one, piped text is sent after it (`cat notes.txt | geminal ask \"summarize\"`); a lone `-` puts stdin at that place instead.\n\nStdout: a terminal sees the answer as it streams, restarts included, rendered as markdown a block at a time (each paragraph, list, table or code block once it is complete; --plain prints it as written). A pipe or file receives exactly one answer, written when it is complete (or, on a failure or Ctrl-C, the part that was saved); --stream writes it as it arrives instead.\n\nSources: an answer grounded by --search or --url-context gets numbered markers and a list of sources below it; its sources come with its end, so a terminal too gets it whole once complete (--stream streams it without markers; --raw puts the sources on stderr)."
)]
pub struct AskArgs {
    /// The question. Piped stdin is sent after it; a lone `-` stands for stdin; without it, stdin is the prompt.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
    /// Attach a file (repeatable): text, an image (PNG, JPEG, WebP, HEIC/HEIF, GIF), PDF, audio
    /// or video, its type told from its content. `-a -` attaches stdin (the prompt is then the
    /// arguments).
    #[arg(short = 'a', long = "attach", value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// A system instruction for this answer (overrides the role's and the config file's system_prompt).
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Answer as role NAME: its system prompt, model and settings (flags still win); saved with
    /// the conversation, so -c goes on with it. `geminal roles` lists them.
    #[arg(short, long, value_name = "NAME")]
    pub role: Option<String>,
    /// Continue the most recent conversation.
    #[arg(short = 'c', long = "continue", conflicts_with = "conversation")]
    pub continue_last: bool,
    /// Continue conversation ID (see `geminal history`).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<i64>,
    /// Ask Gemini even if the answer is in the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not save this question and answer (in the history or the cache); no writable history
    /// database is needed. A cached answer is still used when the database opens; with -c or
    /// --conversation the database is read for the conversation so far.
    #[arg(long)]
    pub no_save: bool,
    /// Print the model's text byte for byte, control characters included (unsafe on a terminal).
    #[arg(long, conflicts_with = "plain")]
    pub raw: bool,
    /// On a terminal, print the answer's markdown as written instead of rendered (a pipe always
    /// gets it as written).
    #[arg(long)]
    pub plain: bool,
    /// Write to a pipe or file as the answer arrives, not once it is complete (a restart then
    /// shows as on a terminal).
    #[arg(long)]
    pub stream: bool,
    /// Seconds allowed for the whole answer.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Ask for JSON that follows this JSON Schema (sent as responseJsonSchema); an answer that
    /// is not valid JSON exits with code 11. Saved with the conversation, so -c keeps it.
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub tools: super::tool_flags::ToolArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// The prompt from the arguments, stdin, or both: piped text follows the arguments after a
/// blank line (as llm and aichat do), or takes the place of a lone `-`.
fn read_prompt(args: &AskArgs) -> Result<String, Failure> {
    let placeholder = args.prompt.iter().any(|p| p == "-");
    if attaches_stdin(args) {
        if args.prompt.is_empty() || placeholder {
            return Err(Failure::usage(
                "With -a - stdin is the attachment: give the prompt as an argument (`geminal ask -a - \"what is this?\"`).",
            ));
        }
        return Ok(compose_prompt(&args.prompt, ""));
    }
    let stdin_is_terminal = std::io::stdin().is_terminal();
    if args.prompt.is_empty() && stdin_is_terminal {
        return Err(Failure::usage(
            "No prompt given: run `geminal ask \"your question\"` or pipe text in (`echo question | geminal ask`).",
        ));
    }
    let mut stdin_text = String::new();
    if args.prompt.is_empty() || placeholder || !stdin_is_terminal {
        std::io::stdin().read_to_string(&mut stdin_text).map_err(|e| {
            Failure::usage(format!(
                "The prompt on stdin could not be read ({}): pass it as an argument instead.",
                e.kind()
            ))
        })?;
    }
    let prompt = compose_prompt(&args.prompt, &stdin_text);
    if prompt.trim().is_empty() {
        return Err(Failure::usage("The prompt is empty: give a question as an argument or on stdin."));
    }
    Ok(prompt)
}

fn compose_prompt(words: &[String], stdin_text: &str) -> String {
    let stdin_text = stdin_text.trim_end_matches(['\n', '\r']);
    if words.is_empty() {
        return stdin_text.to_owned();
    }
    let placeholder = words.iter().any(|p| p == "-");
    let prompt = words.iter().map(|p| if p == "-" { stdin_text } else { p.as_str() }).collect::<Vec<_>>().join(" ");
    if placeholder || stdin_text.trim().is_empty() { prompt } else { format!("{prompt}\n\n{stdin_text}") }
}

fn attaches_stdin(args: &AskArgs) -> bool {
    args.attach.iter().any(|p| p.as_os_str() == "-")
}

/// Reads every `-a FILE` (stdin for `-`) before anything is asked: a file that cannot go is
/// refused with one sentence and nothing is sent.
fn read_attachments(args: &AskArgs) -> Result<Vec<Attachment>, Failure> {
    if args.attach.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Failure::usage("-a - attaches stdin once: give it only once."));
    }
    args.attach
        .iter()
        .map(|path| if path.as_os_str() == "-" { attach::read_stdin() } else { attach::read_path(path) })
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::from)
}

pub async fn run(
    global: &GlobalArgs,
    flags: &ConnectArgs,
    generation: &GenerationArgs,
    args: &AskArgs,
) -> Result<u8, Failure> {
    let mut settings = generation.settings()?;
    if let Some(path) = &args.json_schema {
        settings.json_schema = Some(read_json_schema(path)?);
    }
    let prompt = read_prompt(args)?;
    let attachments = read_attachments(args)?;
    let target = match (args.conversation, args.continue_last) {
        (Some(id), _) => Target::Conversation(id),
        (None, true) => Target::Last,
        (None, false) => Target::New,
    };
    let history = match (args.no_save, target) {
        (false, _) => HistoryUse::Save,
        (true, Target::New) => HistoryUse::Optional,
        (true, _) => HistoryUse::ReadOnly,
    };
    let (conn, session) = open_session(global, flags, args.timeout, args.no_cache, history).await?;
    let config = &conn.config;
    // An unknown role is refused before anything is asked.
    let role = args.role.as_deref().map(|name| config.role(name).map_err(Failure::usage)).transpose()?;
    // Tools named by a flag must be configured: said before anything is asked.
    args.tools.check_prompt(&args.prompt, config)?;
    let tools = args.tools.tool_use(config, role)?;
    let runner = conn.runner(std::sync::Arc::new(session));
    let mut spec = TurnSpec {
        tools,
        // No flag: the role's tools (given, or the continued conversation's) choose.
        role_tools: args.tools.tools.is_none() && !args.tools.no_tools,
        attachments,
        model: config.model_explicit.then(|| config.model.clone()),
        keep_model: flags.model.is_some(),
        // A continued conversation keeps its own system prompt unless --system is given.
        system: match &args.system {
            Some(system) => System::Set(Some(system.clone())),
            None => System::Default(config.system_prompt.clone()),
        },
        // A continued conversation goes on with the role it was saved with (while it exists).
        role: role.cloned().map_or(RoleChoice::Saved, |r| RoleChoice::Use(Box::new(r))),
        settings,
        // A spent budget refuses before anything is sent (uploads and token counts included);
        // the answer's worst case is held against the budgets while it runs.
        budget: BudgetPolicy::per_turn(config.budgets, flags.over_budget),
        // The whole answer's deadline (`--timeout`, `timeout_secs`), its uploads included.
        deadline: config.total_timeout,
        ..TurnSpec::new(target, prompt)
    };
    // An untrusted tool call is asked about on the terminal; on a pipe no one is asked.
    spec.tools.approver = super::tool_steps::terminal_approver();
    // Once the answer starts, Ctrl-C, SIGTERM and SIGHUP stop it, and it is saved as far as it
    // got (before, nothing is saved yet, and they end the process as usual). With tools they
    // are heard before the turn starts: a signal while the MCP servers start ends geminal with
    // its usual code, and its servers with it.
    let may_list = !spec.tools.selection.is_off() || (spec.role_tools && !config.mcp.servers.is_empty());
    let mut signals: Option<Signals> = if may_list { Some(Signals::new()?) } else { None };
    let mut turn = runner.start(spec);
    let mut tool_lines = super::tool_steps::StepLines::default();
    // Large files are uploaded first (a bar on a terminal).
    let bar = UploadBar::new();
    let mut composed = None;
    let mut printer: Option<AnswerPrinter> = None;
    let mut stopped = None;
    let report = loop {
        let update = match signals.as_mut() {
            Some(listening) => tokio::select! {
                update = turn.next() => update,
                stop = listening.recv() => {
                    if printer.is_none() {
                        // Nothing is saved yet: stopped as without tools (main stops the servers).
                        turn.cancel();
                        return Err(Failure::new(stop.exit_code(), format!("Stopped by {} before the question was sent.", stop.name())));
                    }
                    stopped.get_or_insert(stop);
                    turn.cancel();
                    continue;
                }
            },
            None => turn.next().await,
        };
        let Some(TurnUpdate { update, .. }) = update else {
            return Err(Failure::new(exit::FAILURE, "The answer ended unexpectedly: try again."));
        };
        match update {
            Update::BudgetNear(near) => exit::say(&words::near_text(&near)),
            Update::OverBudget(refusal) => exit::say(&words::over_budget_text(&refusal)),
            Update::NotCounted => exit::say(words::NOT_COUNTED),
            Update::Composed(c) => composed = Some(c),
            Update::Uploading(progress) => bar.show(&progress),
            // A conversation longer than the model takes: its newest turns only (config).
            Update::Shown(Shown::Notice(Notice::ContextTrimmed(trimmed))) => exit::say(&trimmed.to_string()),
            // Tool steps on stderr, one line each: stdout holds only the answer.
            Update::Shown(Shown::Tool(step)) => {
                let line = tool_lines.line(&step);
                if let Some(printer) = printer.as_mut() {
                    printer.show(Shown::Tool(step));
                }
                exit::say(&line);
            }
            Update::Shown(shown) => {
                bar.finish();
                if signals.is_none() {
                    signals = Some(Signals::new()?);
                }
                let printer = printer.get_or_insert_with(|| answer_printer(args, config, composed.as_ref()));
                printer.show(shown);
            }
            Update::Refused(refused) => {
                bar.finish();
                return Err(words::refused(refused));
            }
            Update::Done(report) => break *report,
        }
    };
    bar.finish();
    let composed = composed.unwrap_or_else(|| Composed {
        model: config.model.clone(),
        system: None,
        settings: crate::chat::Settings::default(),
        role: None,
    });
    let wants_json = composed.settings.json_schema.is_some();
    let model_asked = composed.model.clone();
    let mut printer = printer.unwrap_or_else(|| answer_printer(args, config, Some(&composed)));
    if let Some(grounding) = &report.grounding {
        printer.sources(&report.text, grounding);
    }
    printer.finish();
    if printer.pipe_closed() {
        return Ok(exit::OK);
    }
    // Under a budget, an answer whose price is unknown is said once: it counts as nothing.
    let budgeted = config.budgets.daily.is_some() || config.budgets.monthly.is_some();
    if budgeted && report.usage.is_some() && !report.cached && report.cost.cost.is_none() {
        let model = report.cost.priced_as.clone().unwrap_or_else(|| crate::money::price_key(&model_asked));
        exit::say(&format!(
            "the price of {model} is unknown, so this answer does not count toward the budget: add [prices.\"{model}\"] to the config."
        ));
    }
    if std::io::stderr().is_terminal() {
        if let Some(line) = cost_line(&report) {
            exit::say(&line);
        }
        if report.cached {
            eprintln!("geminal: answered from the cache; --no-cache asks Gemini again.");
        }
    }
    match report.outcome {
        Outcome::Complete => match report.save_error {
            Some(e) => Err(e.into()),
            None => match json_answer_problem(&report.text).filter(|_| wants_json) {
                Some(problem) => Err(Failure::new(exit::BAD_JSON, problem)),
                None => Ok(exit::OK),
            },
        },
        Outcome::Failed(e) => Err(e.into()),
        Outcome::Cancelled => Err(stopped_answer(stopped.unwrap_or(Stop::Interrupt))),
    }
}

/// How the answer is printed: a grounded answer's markers need its sources, which come at its
/// end, so a terminal gets it whole, rendered with them (--stream streams it, with the sources
/// listed below).
fn answer_printer(args: &AskArgs, config: &crate::config::Config, composed: Option<&Composed>) -> AnswerPrinter {
    let grounded = composed.is_some_and(|c| !c.settings.tool_specs().is_empty());
    let delivery = if grounded && !args.stream { Delivery::Whole } else { Delivery::for_stdout(args.stream) };
    let model = composed.map_or(config.model.as_str(), |c| c.model.as_str());
    let mut printer = AnswerPrinter::new(args.raw, delivery)
        .waiting_for(model, &config.names)
        .with_thoughts_on_stdout(std::io::stdout().is_terminal());
    if !args.raw && !args.plain && std::io::stdout().is_terminal() {
        printer = printer.with_markdown(super::markdown::terminal_width());
    }
    printer
}

/// What the answer cost, for a terminal's stderr: `cost $0.00155 (gemini:gemini-2.5-flash)`,
/// what a cache hit saved, or why the price is unknown; nothing when nothing was reported.
fn cost_line(report: &crate::chat::TurnReport) -> Option<String> {
    let cost = &report.cost;
    if report.cached {
        return Some(match cost.saved {
            Some(saved) => format!("cost $0.00 (from the cache; saved {saved})"),
            None => "cost $0.00 (from the cache)".to_owned(),
        });
    }
    report.usage?;
    Some(match (cost.cost, &cost.priced_as) {
        (Some(c), Some(row)) => format!("cost {c} ({row})"),
        (Some(c), None) => format!("cost {c}"),
        (None, Some(row)) => format!("cost: price unknown ({row} has no price for what this answer used)"),
        (None, None) => "cost: price unknown (no price for this model: see [prices] in the config)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::compose_prompt;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn piped_text_follows_the_prompt_after_a_blank_line() {
        assert_eq!(compose_prompt(&words(&["summarize"]), "the notes\n"), "summarize\n\nthe notes");
        assert_eq!(compose_prompt(&words(&["summarize", "this"]), ""), "summarize this", "nothing piped");
        assert_eq!(compose_prompt(&words(&["summarize"]), " \n"), "summarize", "only blanks piped");
    }

    #[test]
    fn a_dash_places_stdin_and_no_words_make_stdin_the_prompt() {
        assert_eq!(compose_prompt(&words(&["summarize:", "-", "briefly"]), "text\r\n"), "summarize: text briefly");
        assert_eq!(compose_prompt(&[], "explain this\n"), "explain this");
    }
}
