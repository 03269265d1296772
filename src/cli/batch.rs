//! `geminal batch`: many prompts at once, one JSON line out per prompt as each finishes.
//! Memory stays bounded by `-j`: prompts are read as workers free up (`batch_input` reads the
//! input once), results written as they come. With `--resume OUT`, ids already answered in OUT
//! are skipped and new lines appended. A run from a file is recorded as a job, every line of it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub(super) use super::batch_input::Prompt;
use super::batch_input::{self, Item, Written};
pub(super) use super::batch_turn::prepare_line;
use super::exit::{self, Failure};
use super::generation::{GenerationArgs, read_json_schema};
use super::signals::{Signals, Stop, StopExit};
use super::{ConnectArgs, GlobalArgs, HistoryUse, open_session};
use crate::chat::json_answer_problem;
use crate::chat::{Notice, Outcome, Settings, Shown};
use crate::config::Config;
use crate::error_data::{ErrorKind, StoredError};
use crate::jobs::line::{Answered, Failed, LineHead, answered_line, failed_line};
use crate::jobs::{LocalJob, StoredInput};
use crate::store::LocalState;
use crate::turn::Runner;

#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Prompts: a .jsonl (or .ndjson, .json) file holds JSON lines {"id", "prompt", "role", "system", "model",
    /// "attachments", and any generation setting: "thinking", "show_thoughts", "temperature", "top_p", "max_tokens",
    /// "seed", "stop", "json_schema", "search", "url_context"}
    /// (a line's own settings win over the flags; attachments: file paths, relative to FILE's directory); any
    /// other file one prompt a line; a name without an extension (`-` for stdin, a pipe) is read as its first
    /// line says. A grounded answer's line has "sources" and "citations".
    #[arg(value_name = "FILE", required_unless_present = "retry_failed")]
    pub input: Option<PathBuf>,
    /// Prompts answered at once.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Requests per minute, for every model.
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// Append to this JSONL file (instead of stdout), skipping ids it already answers.
    #[arg(long, value_name = "OUT")]
    pub resume: Option<PathBuf>,
    /// Do not save the prompts and answers (in the history or the cache); no writable history
    /// database is needed. A cached answer is still used when the database opens.
    #[arg(long)]
    pub no_save: bool,
    /// Ask Gemini even for answers in the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Ask every prompt for JSON that follows this JSON Schema; a line whose answer is not valid
    /// JSON gets the error kind "invalid_json".
    #[arg(long, value_name = "FILE")]
    pub json_schema: Option<PathBuf>,
    /// Spend at most this many US dollars on this run: a prompt whose worst case (everything it
    /// sends, attachments included, plus its max_tokens or 65,536 output tokens; at the batch
    /// price with --remote) could exceed it is not launched, nor any after it (exit code 12).
    /// Answers of models with no known price are refused under a budget.
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub budget: Option<crate::money::Usd>,
    /// Answer every prompt as role NAME (a line's own "role" wins); `geminal roles` lists them.
    #[arg(short, long, value_name = "NAME")]
    pub role: Option<String>,
    /// Run on Gemini's Batch API (half price, answered within 24 hours): the job is recorded in
    /// the history as soon as it is submitted; `geminal jobs` follows it.
    #[arg(long)]
    pub remote: bool,
    /// Send again only the lines of job ID that failed or were never answered (remotely for a
    /// remote job, unless --local).
    #[arg(long, value_name = "ID", conflicts_with = "input")]
    pub retry_failed: Option<i64>,
    /// The input a retry's lines came from (recorded with the run's job).
    #[arg(skip)]
    pub origin: Option<PathBuf>,
    /// The flags of the run a retry finishes (this run's own win over them).
    #[arg(skip)]
    pub recorded: Option<Box<RunFlags>>,
    /// With --retry-failed: answer them here rather than on Gemini's Batch API.
    #[arg(long, requires = "retry_failed", conflicts_with = "remote")]
    pub local: bool,
    /// With --remote: submit, print the job id(s) and return; `geminal jobs wait ID` collects.
    #[arg(long, requires = "remote")]
    pub detach: bool,
    /// With --remote: the job's priority on Gemini's side (higher runs first; may be negative).
    #[arg(long, value_name = "N", requires = "remote", allow_negative_numbers = true)]
    pub priority: Option<i64>,
    /// With --remote: a request file up to this size goes inline, a larger one is uploaded.
    #[arg(long, value_name = "BYTES", requires = "remote", hide = true)]
    pub inline_max_bytes: Option<u64>,
    /// With --remote: a request file never passes this size; the rest goes to further jobs.
    #[arg(long, value_name = "BYTES", requires = "remote", hide = true)]
    pub job_max_bytes: Option<u64>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub generation: GenerationArgs,
}

fn parse_usd(text: &str) -> Result<crate::money::Usd, String> {
    text.trim()
        .trim_start_matches('$')
        .parse::<f64>()
        .ok()
        .and_then(crate::money::Usd::from_dollars)
        .filter(|u| *u > crate::money::Usd::ZERO)
        .ok_or_else(|| format!("{text:?} is not a positive amount of US dollars (such as 2.50)"))
}

/// The flags of a run that shape what it sends: recorded with a local run's job, so that
/// `batch --retry-failed ID` sends its lines as the run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFlags {
    /// `-m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `--role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The generation flags and `--json-schema`.
    #[serde(default)]
    pub settings: Settings,
}

struct Counts {
    answered: u64,
    cached: u64,
    failed: u64,
    bad_input: u64,
}

/// What a worker did with one item of the input.
enum Finished {
    /// A line written to the output: its line in the input, what the job records of it, and
    /// its answer as saved in the history; a provider's failure as data (any other failure is
    /// recorded as its line tells it).
    Written {
        value: serde_json::Value,
        line: usize,
        input: StoredInput,
        answer_id: Option<i64>,
        error: Option<StoredError>,
    },
    /// Composed but not launched: the budget was reached.
    NotLaunched { line: usize, input: StoredInput },
    /// Already answered in the `--resume` file.
    Skipped { id: String, line: usize },
}

/// What a job records of a prompt (the composed model, when known).
fn stored(p: &Prompt, model: Option<&str>) -> StoredInput {
    StoredInput {
        id: p.id.clone(),
        prompt: p.prompt.clone(),
        model: model.or(p.model.as_deref()).unwrap_or_default().to_owned(),
        system: p.system.clone(),
        role: p.role.clone(),
        settings: p.settings.to_stored(),
        cache_key: None,
        attachments: p.attachments.iter().map(|a| a.display().to_string()).collect(),
        run: None,
    }
}

/// What a job records of a line it knows only by its id (bad input, or skipped).
fn bare(id: &str) -> StoredInput {
    StoredInput {
        id: id.to_owned(),
        prompt: String::new(),
        model: String::new(),
        system: None,
        role: None,
        settings: None,
        cache_key: None,
        attachments: Vec::new(),
        run: None,
    }
}

/// Records one finished item in the run's job; `false` when the record could not be written.
async fn record(job: &mut LocalJob, done: &Finished) -> bool {
    let result = match done {
        Finished::Skipped { id, line } => job.record(*line, bare(id), LocalState::Done, None, [None; 3]).await,
        Finished::NotLaunched { line, input } => {
            job.record(*line, input.clone(), LocalState::Pending, None, [None; 3]).await
        }
        Finished::Written { value, line, input, answer_id, error } => {
            let state = match (value["error"].as_object(), error) {
                (None, _) => LocalState::Done,
                (Some(_), Some(error)) => LocalState::Failed(error.clone()),
                (Some(said), None) => {
                    let text = |k: &str| said.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                    let kind = ErrorKind::parse(text("kind")).unwrap_or(ErrorKind::BadInput);
                    LocalState::Failed(StoredError::with_message(kind, text("message")))
                }
            };
            let answered = state == LocalState::Done;
            let tokens = ["prompt_tokens", "output_tokens", "thought_tokens"].map(|k| value[k].as_i64());
            job.record(*line, input.clone(), state, answer_id.filter(|_| answered), tokens).await
        }
    };
    result.is_ok()
}

pub async fn run(
    global: &GlobalArgs,
    flags: &ConnectArgs,
    generation: &GenerationArgs,
    args: &BatchArgs,
) -> Result<u8, Failure> {
    let mut settings = generation.settings()?;
    if let Some(path) = &args.json_schema {
        settings.json_schema = Some(read_json_schema(path)?);
    }
    if let Some(id) = args.retry_failed {
        let retry = super::jobs::retry_input(global, id).await?;
        let args = BatchArgs {
            input: Some(retry.file.path().to_owned()),
            retry_failed: None,
            remote: (retry.remote && !args.local) || args.remote,
            resume: args.resume.clone().or(retry.output),
            origin: retry.origin,
            recorded: retry.run.map(Box::new),
            ..args.clone()
        };
        return Box::pin(run(global, flags, generation, &args)).await;
    }
    // A retry sends its lines with the flags of the run it finishes, under this run's own.
    let recorded = args.recorded.as_deref().cloned().unwrap_or_default();
    let settings = recorded.settings.with(&settings);
    let flags = &ConnectArgs { model: flags.model.clone().or(recorded.model), ..flags.clone() };
    let args = &BatchArgs { role: args.role.clone().or(recorded.role), ..args.clone() };
    // A missing input, or a file whose ids repeat, is refused before anything is sent.
    let input = batch_input::check(args.input.as_deref().unwrap_or(Path::new("-"))).await?;
    if args.remote {
        return super::remote_batch::run(global, flags, settings, args, input).await;
    }
    let jobs = args.jobs.clamp(1, 4096);
    let flags = ConnectArgs { max_concurrent: Some(jobs), rpm: args.rpm.or(flags.rpm), ..flags.clone() };
    let history = if args.no_save { HistoryUse::Optional } else { HistoryUse::Save };
    let (conn, session) = open_session(global, &flags, None, args.no_cache, history).await?;
    // An unknown role is refused before anything is asked.
    if let Some(name) = &args.role {
        conn.config.role(name).map_err(Failure::usage)?;
    }
    let choice = RoleChoice { role: args.role.clone(), model_flag: flags.model.is_some() };
    // A spent budget refuses the run before anything is sent; the config's budgets bound it
    // through reservations in the database, shared with every process using it.
    super::check_budget(&conn, &session, flags.over_budget).await?;
    let budgets = if flags.over_budget { crate::config::Budgets::default() } else { conn.config.budgets };
    let budget = std::sync::Arc::new(
        super::batch_budget::RunBudget::new(args.budget, args.budget.is_some(), conn.config.prices.clone())
            .with_shared(session.store().cloned(), budgets.daily, budgets.monthly),
    );
    // Ctrl-C stops in two stages; SIGTERM and SIGHUP stop at once, as a second Ctrl-C does.
    let mut signals = Signals::new()?;
    let config = conn.config.clone();
    // A saved run from a file is a job too: `geminal jobs` shows it (going, or interrupted), and
    // `batch --retry-failed ID` finishes it without naming the files again. A stream (stdin, a
    // pipe) cannot be read again, so it is not one.
    let mut local_job = match (session.store(), args.no_save || !input.is_file()) {
        (Some(store), false) => {
            let absolute = |p: &Path| std::path::absolute(p).unwrap_or(p.to_owned()).display().to_string();
            let origin = args.origin.clone().unwrap_or_else(|| input.path.clone());
            let run = RunFlags { model: flags.model.clone(), role: args.role.clone(), settings: settings.clone() };
            LocalJob::start(
                store.clone(),
                config.model.clone(),
                Some(absolute(&origin)),
                args.resume.as_deref().map(absolute),
                input.total,
                serde_json::to_value(&run).unwrap_or_default(),
            )
            .await
            .ok()
        }
        _ => None,
    };
    let skip = Written::read(args.resume.as_deref())?;
    let mut out: Box<dyn Write + Send> = match &args.resume {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                Failure::new(
                    exit::FAILURE,
                    format!("Could not open {} ({}): check the path.", path.display(), e.kind()),
                )
            })?;
            // A line torn by a kill stays on its own line, unparsed.
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len > 0 && !std::fs::read(path).map(|b| b.ends_with(b"\n")).unwrap_or(true) {
                let _ = file.write_all(b"\n");
            }
            Box::new(file)
        }
        None => Box::new(std::io::stdout()),
    };
    // JSON lines on a terminal have their unsafe characters escaped; a file or pipe gets them raw.
    let to_terminal = args.resume.is_none() && std::io::stdout().is_terminal();
    // A stream is never read ahead to count it: its bar has no total.
    let progress = progress_bar(input.total);
    let started = Instant::now();

    let (prompts_tx, prompts_rx) = mpsc::channel::<Item>(jobs);
    let (results_tx, mut results_rx) = mpsc::channel::<Finished>(jobs);
    let stop_reading = tokio_util::sync::CancellationToken::new();
    let reader = tokio::spawn(batch_input::read_prompts(input, skip, prompts_tx, stop_reading.clone()));

    let runner = conn.runner(std::sync::Arc::new(session));
    let session = runner.session().clone();
    // Shared, not copied per worker: a copy of the config was ~2 KB, 2 MB at -j 1024.
    let config = std::sync::Arc::new(config);
    let prompts_rx = std::sync::Arc::new(tokio::sync::Mutex::new(prompts_rx));
    let mut workers = Vec::new();
    for _ in 0..jobs {
        let (runner, prompts_rx, results_tx, config, settings, choice, budget) = (
            runner.clone(),
            prompts_rx.clone(),
            results_tx.clone(),
            config.clone(),
            settings.clone(),
            choice.clone(),
            budget.clone(),
        );
        let stop = stop_reading.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = prompts_rx.lock().await.recv().await;
                // After a stop, prompts already read but not started are left for --resume.
                let Some(next) = next.filter(|_| !stop.is_cancelled()) else { break };
                let done = match next {
                    Item::Prompt(prompt) => answer(&runner, &config, &settings, &choice, &budget, *prompt).await,
                    Item::Bad(bad) => Some(Finished::Written {
                        value: bad.output(),
                        line: bad.line,
                        input: bare(&bad.id),
                        answer_id: None,
                        error: None,
                    }),
                    Item::Skipped(id, line) => Some(Finished::Skipped { id, line }),
                };
                if let Some(done) = done
                    && results_tx.send(done).await.is_err()
                {
                    break;
                }
            }
        }));
    }
    drop(results_tx);

    let mut counts = Counts { answered: 0, cached: 0, failed: 0, bad_input: 0 };
    let mut interrupts = 0;
    let mut stopped_by = None;
    let mut write_error = None;
    loop {
        let done = tokio::select! {
            done = results_rx.recv() => done,
            stop = signals.recv() => {
                interrupts += 1;
                stopped_by = Some(stop);
                if interrupts == 1 && stop == Stop::Interrupt {
                    stop_reading.cancel();
                    progress.suspend(|| exit::say("stopping: no new prompts; running ones finish (Ctrl-C again cancels them)."));
                } else {
                    stop_reading.cancel();
                    session.engine().cancel_all();
                }
                continue;
            }
        };
        let Some(done) = done else { break };
        if let Some(job) = &mut local_job
            && !record(job, &done).await
        {
            // The answers go on; only the run's record in `geminal jobs` stops.
            progress.suspend(|| exit::say("the run's job record could not be written; the answers are still saved."));
            local_job = None;
        }
        // Every line of the input moves the bar, its total counted them all.
        progress.inc(1);
        let Finished::Written { value: line, .. } = done else { continue };
        match line.get("error").and_then(|e| e.get("kind")).and_then(|k| k.as_str()).map(ErrorKind::parse) {
            None => {
                counts.answered += 1;
                if line["cached"] == true {
                    counts.cached += 1;
                }
            }
            Some(Some(ErrorKind::BadInput)) => counts.bad_input += 1,
            Some(_) => counts.failed += 1,
        }
        if write_error.is_none() {
            let text = output_line(&line, to_terminal);
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                write_error = Some(e);
                stop_reading.cancel();
            }
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let read = reader.await.unwrap_or_default();
    progress.finish_and_clear();

    let m = session.engine().metrics().snapshot();
    let secs = |ms: Option<u32>| ms.map_or_else(|| "-".to_owned(), |ms| format!("{:.1}s", f64::from(ms) / 1000.0));
    let elapsed = started.elapsed().as_secs_f64();
    let done = counts.answered + counts.failed;
    // Not eprintln!: after SIGHUP stderr may be gone, and that must not turn into a panic.
    let stopped_by_budget = budget.stopped();
    let lines = |n: u64| if n == 1 { "line" } else { "lines" };
    exit::say(&format!(
        "batch {}: {} answered ({} from cache), {} failed, {} skipped as already answered{} in {:.1}s ({:.1}/s); latency p50 {}, p95 {}; {} retries; cost {}.",
        if interrupts > 0 || stopped_by_budget.is_some() || read.error.is_some() { "stopped" } else { "done" },
        counts.answered,
        counts.cached,
        counts.failed,
        read.skipped,
        match (counts.bad_input, read.bad_again) {
            (0, 0) => String::new(),
            (bad, 0) => format!(", {bad} bad input {}", lines(bad)),
            (0, again) => format!(", {again} bad input {} already reported", lines(again)),
            (bad, again) => format!(", {bad} bad input {} (and {again} already reported)", lines(bad)),
        },
        elapsed,
        done as f64 / elapsed.max(0.001),
        secs(m.latency_p50_ms),
        secs(m.latency_p95_ms),
        m.retries,
        budget.spent()
    ));
    if let Some(job) = local_job {
        // A run its budget, a signal, a write or a read stopped is unfinished.
        let stopped =
            stopped_by.is_some() || write_error.is_some() || stopped_by_budget.is_some() || read.error.is_some();
        let state = if stopped { "interrupted" } else { "succeeded" };
        let _ = job.finish(state).await;
    }
    if let Some(e) = write_error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(exit::OK);
        }
        return Err(Failure::new(
            exit::FAILURE,
            format!("Writing the results failed ({}): check free space; rerun with --resume to finish.", e.kind()),
        ));
    }
    if let Some(stop) = stopped_by {
        let by = if stop == Stop::Interrupt { String::new() } else { format!(" by {}", stop.name()) };
        return Err(Failure::new(
            stop.exit_code(),
            format!("Stopped{by} before every prompt was answered: rerun with --resume OUT to finish."),
        ));
    }
    if let Some(why) = read.error {
        return Err(Failure::new(
            exit::FAILURE,
            format!(
                "Stopped before the end of the input: {why}; the lines read were answered (rerun with --resume OUT to finish)."
            ),
        ));
    }
    if let Some(text) = budget.stop_text(settings.max_tokens.is_some()) {
        return Err(Failure::new(exit::BUDGET, text));
    }
    // A bad line reported by an earlier run is still not answered.
    if counts.failed + counts.bad_input + read.bad_again > 0 {
        return Err(Failure::new(
            exit::SOME_FAILED,
            "Some prompts failed: see the error field of their lines; rerun with --resume to retry them.",
        ));
    }
    Ok(exit::OK)
}

/// The batch-wide role (`--role`) and whether `--model` was given (it beats a role's model).
#[derive(Debug, Clone)]
pub(super) struct RoleChoice {
    pub(super) role: Option<String>,
    pub(super) model_flag: bool,
}

/// Answers one prompt; `None` if it was cancelled (not written, so `--resume` asks again).
async fn answer(
    runner: &Runner,
    config: &Config,
    flags: &Settings,
    choice: &RoleChoice,
    budget: &super::batch_budget::RunBudget,
    p: Prompt,
) -> Option<Finished> {
    let written = |value: serde_json::Value, model: Option<&str>, answer_id: Option<i64>| Finished::Written {
        value,
        line: p.line,
        input: stored(&p, model),
        answer_id,
        error: None,
    };
    // Retries are counted in the summary; a switch of model is worth a line (once per run).
    let show = |shown: Shown| {
        if let Shown::Notice(notice @ Notice::Fallback { .. }) = shown {
            eprintln!("geminal: {notice}");
        }
    };
    let started = Instant::now();
    let ready = match prepare_line(runner, config, flags, choice, &p, started).await {
        Ok(ready) => ready,
        Err(line) => return Some(written(line, None, None)),
    };
    let prepared = &ready.prepared;
    let model = prepared.turn.model.clone();
    // Under a budget, the prompt's worst case is reserved before anything is sent; a prompt
    // that could pass it is not launched (nor written: --resume asks it later; the job records
    // it as never sent).
    let estimate = crate::chat::worst_prompt_tokens(&prepared.turn);
    let reserved = match budget.reserve(&model, estimate, prepared.settings.max_tokens).await {
        Ok(reserved) => reserved,
        Err(super::batch_budget::NotLaunched::OverBudget) => {
            return Some(Finished::NotLaunched { line: p.line, input: stored(&p, Some(&model)) });
        }
        Err(super::batch_budget::NotLaunched::Unpriced(why)) => {
            let line = error_line(&p, Some(&model), &why, ErrorKind::UnknownPrice, started);
            return Some(written(line, Some(&model), None));
        }
    };
    let wants_json = prepared.settings.json_schema.is_some();
    // Run in this worker, not as a task of its own with a channel of updates: at -j 1024 those
    // cost ~13 KB a prompt. A stop (Ctrl-C) drops the worker, and so the turn.
    let work = std::panic::AssertUnwindSafe(runner.run(ready, &show, tokio_util::sync::CancellationToken::new()))
        .catch_unwind();
    let report = work.await.unwrap_or_else(|_| crate::turn::internal_error());
    budget.settle(&model, reserved, &report.cost, report.usage.is_some() || report.cached).await;
    let usage = report.usage.unwrap_or_default();
    let cost_usd = report.cost.cost.map(crate::money::Usd::as_dollars);
    let answer_id = report.answer_id;
    let head = LineHead {
        id: &p.id,
        prompt: Some(&p.prompt),
        model: Some(&model),
        latency_ms: Some(started.elapsed().as_millis() as u64),
    };
    let partial = Some((report.text.as_str(), cost_usd));
    let (value, error) = match &report.outcome {
        Outcome::Cancelled => return None,
        Outcome::Complete if wants_json && json_answer_problem(&report.text).is_some() => {
            let problem = json_answer_problem(&report.text).unwrap_or_default();
            (failed_line(&head, &Failed { kind: ErrorKind::InvalidJson, message: &problem, partial }), None)
        }
        Outcome::Complete => {
            let head = LineHead { model: Some(report.answered_by.as_deref().unwrap_or(&model)), ..head };
            let answered = Answered {
                answer: &report.text,
                tokens: [usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count],
                cached: report.cached,
                cost_usd,
                saved_usd: report.cost.saved.map(crate::money::Usd::as_dollars),
                thoughts: &report.thoughts,
                grounding: report.grounding.as_ref(),
            };
            (answered_line(&head, &answered), None)
        }
        Outcome::Failed(e) => {
            let failed = Failed { kind: e.kind(), message: &e.to_string(), partial };
            (failed_line(&head, &failed), Some(e.to_stored()))
        }
    };
    Some(Finished::Written { value, line: p.line, input: stored(&p, Some(&model)), answer_id, error })
}

/// One line of output: the JSON object, escaped for a terminal (the same data once parsed), and
/// a newline.
pub(super) fn output_line(value: &serde_json::Value, to_terminal: bool) -> String {
    let mut text = super::output::json_for(&value.to_string(), to_terminal).into_owned();
    text.push('\n');
    text
}

/// The line of a prompt that could not be sent.
pub(super) fn error_line(
    p: &Prompt,
    model: Option<&str>,
    message: &str,
    kind: ErrorKind,
    started: Instant,
) -> serde_json::Value {
    let head =
        LineHead { id: &p.id, prompt: Some(&p.prompt), model, latency_ms: Some(started.elapsed().as_millis() as u64) };
    failed_line(&head, &Failed { kind, message, partial: None })
}

pub(super) fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} prompts [{bar:30}] {per_sec} eta {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Code points a terminal must never receive raw inside JSON text.
    fn forbidden(c: char) -> bool {
        matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            || matches!(c, '\u{200b}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{00ad}')
    }

    /// Text biased towards what attacks a terminal: C0, C1, bidi, zero-width, BOM, line and
    /// paragraph separators, escape sequences, mixed with ordinary and wide characters.
    fn hostile_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => any::<char>().prop_map(String::from),
            2 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap().to_string()),
            2 => (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap().to_string()),
            2 => prop::sample::select(vec![
                '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
                '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}',
                '\u{feff}', '\u{2028}', '\u{2029}', '\u{00ad}', '\u{e0041}',
            ])
            .prop_map(String::from),
            2 => prop::sample::select(vec!["\x1b[2J", "\x1b]52;c;aGk=\x07", "\u{9b}31m", "\u{9d}0;t\x1b\\", "\r\n", "\\u001b"])
                .prop_map(str::to_owned),
            1 => "[a-z 世界🦀\"\\\\]{1,8}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn a_line_for_a_terminal_holds_no_unsafe_code_point_and_parses_back(prompt in hostile_text(), answer in hostile_text()) {
            let value = serde_json::json!({ "id": "1", "prompt": prompt, "answer": answer, "error": null });
            let line = output_line(&value, true);
            let body = line.strip_suffix('\n').expect("one line, ended by a newline");
            prop_assert!(!body.chars().any(forbidden), "{body:?}");
            let back: serde_json::Value = serde_json::from_str(body).unwrap();
            prop_assert_eq!(back, value);
        }

        #[test]
        fn a_line_for_a_file_is_exactly_what_serde_json_wrote(answer in hostile_text()) {
            let value = serde_json::json!({ "answer": answer });
            prop_assert_eq!(output_line(&value, false), format!("{value}\n"));
        }
    }
}
