//! `geminal jobs`: the batch jobs recorded in the history (state, counts, age, tokens), and
//! `show`, `wait`, `fetch`, `cancel`, `rm` for one of them. Waiting and fetching write each
//! result once to the history and every result line to stdout or `-o FILE`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::exit::{self, Failure};
use super::{ConnectArgs, GlobalArgs, HistoryUse, open_session, open_store};
use crate::chat::ChatSession;
use crate::config::Config;
use crate::error_data::{ErrorKind, StoredError};
use crate::jobs::{Collected, JobError, JobRunner, StoredInput};
use crate::sanitize::one_line;
use crate::store::JobRecord;

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// One job: its state, counts, tokens and files; `--failed` lists its failed lines.
    Show {
        id: i64,
        /// List the lines that failed (and, for a job that ended early, those never answered).
        #[arg(long)]
        failed: bool,
    },
    /// Wait for a remote job to end (polling, with longer pauses as it runs), then collect it.
    Wait {
        id: i64,
        /// Write the result lines to this new file (instead of stdout; private to you).
        #[arg(short, value_name = "OUT")]
        o: Option<PathBuf>,
        /// Replace OUT if it exists.
        #[arg(long, requires = "o")]
        force: bool,
    },
    /// Collect a remote job that is over: its result lines to stdout or `-o OUT`.
    Fetch {
        id: i64,
        /// Write the result lines to this new file (instead of stdout; private to you).
        #[arg(short, value_name = "OUT")]
        o: Option<PathBuf>,
        /// Replace OUT if it exists.
        #[arg(long, requires = "o")]
        force: bool,
    },
    /// Ask Gemini to cancel a remote job (answers already made are kept).
    Cancel { id: i64 },
    /// Forget a job (and delete it and its files on Gemini's side); its saved answers stay.
    Rm { id: i64 },
}

/// A job error as one sentence.
pub(super) fn failure(e: JobError) -> Failure {
    match e {
        // The error's own sentence already says what to do.
        JobError::Api(e) | JobError::Upload(crate::engine::UploadError::Api(e)) => e.into(),
        JobError::Store(e) => e.into(),
        JobError::NoSuchJob(_) | JobError::NotSubmitted(_) | JobError::Local(_) => {
            Failure::usage(format!("{}.", capitalize(&e.to_string())))
        }
        other => Failure::new(exit::FAILURE, format!("{}: try again.", capitalize(&other.to_string()))),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The runner for a session's client, engine and history.
pub(super) fn runner(session: &ChatSession) -> Result<JobRunner, Failure> {
    let store = session
        .store()
        .cloned()
        .ok_or_else(|| Failure::new(exit::STORAGE, "The history database did not open: remote jobs live in it."))?;
    let options = session.options();
    Ok(JobRunner {
        engine: session.engine().clone(),
        store,
        cache: options.use_cache.then(|| (options.cache_namespace.clone(), options.cache_max_entries)),
        first_poll: crate::jobs::first_poll_from_env(),
        prices: options.prices.clone(),
    })
}

/// Stdout, or `path` opened for appending (a line torn by a kill stays on its own line).
pub(super) fn open_output(path: Option<&Path>) -> Result<Box<dyn Write + Send>, Failure> {
    let Some(path) = path else { return Ok(Box::new(std::io::stdout())) };
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
        Failure::new(exit::FAILURE, format!("Could not open {} ({}): check the path.", path.display(), e.kind()))
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > 0 && !std::fs::read(path).map(|b| b.ends_with(b"\n")).unwrap_or(true) {
        let _ = file.write_all(b"\n");
    }
    Ok(Box::new(file))
}

type Sink<'a> = &'a mut (dyn FnMut(&serde_json::Value) -> std::io::Result<()> + Send);

/// Waits for each job, collects it into `out`, and says how it went; the exit code.
pub(super) async fn wait_and_collect(
    runner: &JobRunner,
    ids: &[i64],
    out: Sink<'_>,
    wait: bool,
) -> Result<u8, Failure> {
    let mut code = exit::OK;
    let mut problem: Option<String> = None;
    for &id in ids {
        let op = if wait {
            let mut last = String::new();
            let mut progress = |op: &crate::gemini::batch::BatchOperation| {
                let stats = op.stats();
                let line = format!(
                    "job {id}: {} ({} of {} done)",
                    op.state().as_str(),
                    stats.successful_request_count + stats.failed_request_count,
                    stats.request_count
                );
                if line != last && std::io::stderr().is_terminal() {
                    exit::say(&line);
                }
                last = line;
            };
            runner.wait(id, &mut progress).await.map_err(failure)?
        } else {
            runner.refresh(id).await.map_err(failure)?
        };
        let state = op.state();
        if !state.is_over() {
            return Err(Failure::new(
                exit::FAILURE,
                format!("Job {id} is still {}: `geminal jobs wait {id}` waits for it.", state.as_str()),
            ));
        }
        let collected: Collected = runner.collect(id, &op, out).await.map_err(failure)?;
        let job = runner.job(id).await.map_err(failure)?;
        let unanswered = job.total - job.done - job.failed;
        exit::say(&format!(
            "job {id} {}: {} answered, {} failed ({} newly saved to the history){}.",
            state.as_str(),
            collected.answered,
            collected.failed,
            collected.saved_now,
            if unanswered > 0 { format!(", {unanswered} never answered") } else { String::new() }
        ));
        match state.as_str() {
            "succeeded" if unanswered > 0 => {
                code = exit::SOME_FAILED;
                let unreadable = if collected.unknown > 0 {
                    format!(" ({} result lines could not be read or matched)", collected.unknown)
                } else {
                    String::new()
                };
                let prompts =
                    if unanswered == 1 { "1 prompt was".to_owned() } else { format!("{unanswered} prompts were") };
                problem.get_or_insert(format!(
                    "Job {id} succeeded but {prompts} not answered{unreadable}: `geminal batch --retry-failed {id}` sends them again."
                ));
            }
            "succeeded" if collected.failed > 0 => {
                code = exit::SOME_FAILED;
                problem.get_or_insert(format!(
                    "Some prompts of job {id} failed: `geminal jobs show {id} --failed` lists them; `geminal batch --retry-failed {id}` sends them again."
                ));
            }
            "succeeded" => {}
            other => {
                let reason =
                    job.error.as_ref().map(|e| format!(" ({})", one_line(&job_error_text(e), 120))).unwrap_or_default();
                problem.get_or_insert(format!(
                    "Job {id} {other}{reason}: {unanswered} prompts were not answered; `geminal batch --retry-failed {id}` sends them again."
                ));
                code = exit::SOME_FAILED;
            }
        }
    }
    match problem {
        Some(message) => Err(Failure::new(code, message)),
        None => Ok(code),
    }
}

pub async fn run(global: &GlobalArgs, args: &JobsArgs) -> Result<u8, Failure> {
    match &args.command {
        None => list(global).await,
        Some(JobsCommand::Show { id, failed }) => show(global, *id, *failed).await,
        Some(JobsCommand::Wait { id, o, force }) => collect(global, *id, o.as_deref(), *force, true).await,
        Some(JobsCommand::Fetch { id, o, force }) => collect(global, *id, o.as_deref(), *force, false).await,
        Some(JobsCommand::Cancel { id }) => {
            let (_conn, session) = open_session(global, &ConnectArgs::default(), None, false, HistoryUse::Save).await?;
            let op = runner(&session)?.cancel(*id).await.map_err(failure)?;
            exit::say(&format!("job {id}: {}.", op.state().as_str()));
            Ok(exit::OK)
        }
        Some(JobsCommand::Rm { id }) => {
            let (_conn, session) = open_session(global, &ConnectArgs::default(), None, false, HistoryUse::Save).await?;
            runner(&session)?.remove(*id).await.map_err(failure)?;
            exit::say(&format!("job {id} removed (its answers stay in the history)."));
            Ok(exit::OK)
        }
    }
}

/// A new file for `-o OUT`, private (0600): an existing one is refused unless `force`, then
/// replaced (never appended to: a second fetch would write every line twice).
fn create_output(path: &Path, force: bool) -> Result<std::fs::File, Failure> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(Failure::usage(format!(
            "The file {} already exists: choose another name, or add --force to replace it.",
            path.display()
        )));
    }
    crate::export::open_private(path, force).map_err(|e| {
        Failure::new(exit::FAILURE, format!("Could not create {} ({}): check the path.", path.display(), e.kind()))
    })
}

async fn collect(global: &GlobalArgs, id: i64, out: Option<&Path>, force: bool, wait: bool) -> Result<u8, Failure> {
    if global.demo {
        return Err(Failure::usage(
            "The demo's simulated jobs end with the process that ran them: run `geminal --demo batch FILE --remote` without --detach.",
        ));
    }
    let (_conn, session) = open_session(global, &ConnectArgs::default(), None, false, HistoryUse::Save).await?;
    let runner = runner(&session)?;
    // No file is made for a job that does not exist.
    runner.job(id).await.map_err(failure)?;
    let mut file: Box<dyn Write + Send> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(create_output(path, force)?)),
        None => Box::new(std::io::stdout()),
    };
    let to_terminal = out.is_none() && std::io::stdout().is_terminal();
    let mut write = |value: &serde_json::Value| {
        file.write_all(super::batch::output_line(value, to_terminal).as_bytes())?;
        file.flush()
    };
    wait_and_collect(&runner, &[id], &mut write, wait).await
}

/// What `batch --retry-failed ID` runs: an input file of the lines to send again, where.
pub(super) struct Retry {
    pub(super) file: tempfile::NamedTempFile,
    /// The job ran on Gemini's Batch API.
    pub(super) remote: bool,
    /// A local run's output file (appended to, as `--resume` does).
    pub(super) output: Option<PathBuf>,
    /// The input the lines came from.
    pub(super) origin: Option<PathBuf>,
    /// A local run's flags, which its lines are sent with again.
    pub(super) run: Option<super::batch::RunFlags>,
}

/// The lines of job `id` to send again. For a remote job: those that failed or were never
/// answered, each as it was composed (model, system prompt, role, settings, attachments). For a
/// local run: every line of its input not answered yet (an interrupted run never read the
/// rest), to be sent with the run's flags.
pub(super) async fn retry_input(global: &GlobalArgs, id: i64) -> Result<Retry, Failure> {
    let store = store_only(global).await?;
    let job = store
        .read(move |s| s.job(id))
        .await?
        .ok_or_else(|| Failure::usage(format!("There is no job {id}: `geminal jobs` lists them.")))?;
    let over = crate::jobs::state_is_over(&job.state) || job.state == "submitting" || job.kind == "local";
    if !over {
        return Err(Failure::usage(format!(
            "Job {id} is still {}: wait for it (`geminal jobs wait {id}`) before retrying its failed lines.",
            job.state
        )));
    }
    let io =
        |e: std::io::Error| Failure::new(exit::FAILURE, format!("Could not write the lines to retry ({}).", e.kind()));
    let mut file = tempfile::Builder::new().prefix("geminal-retry-").suffix(".jsonl").tempfile().map_err(io)?;
    let (count, run) = if job.kind == "local" {
        local_retry_lines(&store, &job, &mut file).await?
    } else {
        (remote_retry_lines(&store, id, &mut file).await?, None)
    };
    if count == 0 {
        return Err(Failure::usage(format!("Job {id} has no failed or unanswered lines: nothing to retry.")));
    }
    file.flush().map_err(io)?;
    exit::say(&format!("retrying {count} lines of job {id}."));
    Ok(Retry {
        file,
        remote: job.kind == "remote",
        output: job.output_path.map(PathBuf::from),
        origin: job.input_path.map(PathBuf::from),
        run,
    })
}

async fn remote_retry_lines(
    store: &crate::store::StoreHandle,
    id: i64,
    file: &mut tempfile::NamedTempFile,
) -> Result<u64, Failure> {
    let io =
        |e: std::io::Error| Failure::new(exit::FAILURE, format!("Could not write the lines to retry ({}).", e.kind()));
    let mut count = 0;
    for state in ["failed", "pending"] {
        let mut after = 0;
        loop {
            let page = store.read(move |s| s.job_lines(id, Some(state), after, 500)).await?;
            let Some(last) = page.last() else { break };
            after = last.line;
            for line in page {
                let Ok(input) = serde_json::from_str::<StoredInput>(&line.input) else { continue };
                // Every setting as composed (a JSON schema too), and the files it carried.
                let settings = crate::chat::Settings::from_stored(input.settings.as_deref()).unwrap_or_default();
                let value = serde_json::json!({
                    "id": input.id, "prompt": input.prompt, "model": input.model, "system": input.system,
                    "role": input.role, "settings": settings, "attachments": input.attachments,
                });
                writeln!(file, "{value}").map_err(io)?;
                count += 1;
            }
        }
    }
    Ok(count)
}

/// The lines of a local run's input whose id it has not answered (by its record), and the
/// flags the run was started with (when nothing recorded them: its model).
async fn local_retry_lines(
    store: &crate::store::StoreHandle,
    job: &JobRecord,
    file: &mut tempfile::NamedTempFile,
) -> Result<(u64, Option<super::batch::RunFlags>), Failure> {
    use super::batch_input::{Format, parse_line};
    let io =
        |e: std::io::Error| Failure::new(exit::FAILURE, format!("Could not write the lines to retry ({}).", e.kind()));
    let Some(path) = job.input_path.clone() else {
        return Err(Failure::usage(format!(
            "Job {} read its prompts from a stream (stdin or a pipe): it cannot be read again.",
            job.id
        )));
    };
    let id = job.id;
    let mut done = std::collections::HashSet::new();
    let mut run = None;
    let mut after = 0;
    loop {
        let page = store.read(move |s| s.job_lines(id, None, after, 1000)).await?;
        let Some(last) = page.last() else { break };
        after = last.line;
        for line in page {
            if run.is_none() {
                run = serde_json::from_str::<StoredInput>(&line.input)
                    .ok()
                    .and_then(|i| i.run)
                    .and_then(|r| serde_json::from_value::<super::batch::RunFlags>(r).ok());
            }
            if line.state == "done" {
                done.insert(line.key);
            }
        }
    }
    let run = run.unwrap_or_else(|| super::batch::RunFlags { model: Some(job.model.clone()), ..Default::default() });
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(
            exit::FAILURE,
            format!("Could not read {path} ({}), the input of job {id}: check the path.", e.kind()),
        )
    })?;
    let dir = std::path::Path::new(&path).parent().map(std::path::Path::to_owned).unwrap_or_default();
    // The input's format, decided as the run decided it.
    let format = Format::by_name(std::path::Path::new(&path))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()).map(Format::by_first_line))
        .unwrap_or(Format::Text);
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let Ok(Some(prompt)) = parse_line(line, n + 1, format) else { continue };
        if done.contains(&prompt.id) {
            continue;
        }
        // The line keeps its own id (its number in the original file) and its attachments' place.
        let mut value: serde_json::Value = match format {
            Format::Json => serde_json::from_str(line).unwrap_or_default(),
            Format::Text => serde_json::json!({ "prompt": prompt.prompt }),
        };
        value["id"] = serde_json::Value::String(prompt.id.clone());
        if let Some(list) = value.get_mut("attachments").and_then(|a| a.as_array_mut()) {
            for a in list.iter_mut() {
                if let Some(p) = a.as_str() {
                    *a = serde_json::Value::String(dir.join(p).display().to_string());
                }
            }
        }
        writeln!(file, "{value}").map_err(io)?;
        count += 1;
    }
    Ok((count, Some(run)))
}

async fn store_only(global: &GlobalArgs) -> Result<crate::store::StoreHandle, Failure> {
    let config = Config::resolve(&global.overrides())?;
    open_store(&config).await
}

fn age(ms: i64) -> String {
    let secs = (crate::store::now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

async fn list(global: &GlobalArgs) -> Result<u8, Failure> {
    let store = store_only(global).await?;
    let jobs: Vec<JobRecord> = store.read(|s| s.jobs()).await?;
    let mut stdout = std::io::stdout();
    if jobs.is_empty() {
        exit::say("no jobs yet: `geminal batch FILE --remote` starts one.");
        return Ok(exit::OK);
    }
    let _ = writeln!(
        stdout,
        "{:>5}  {:<6}  {:<10}  {:>7}  {:>7}  {:>7}  {:>5}  {:>10}  model",
        "id", "kind", "state", "total", "done", "failed", "age", "cost"
    );
    for job in jobs {
        let cost = if job.done > 0 { job.cost.short() } else { "—".to_owned() };
        let line = format!(
            "{:>5}  {:<6}  {:<10}  {:>7}  {:>7}  {:>7}  {:>5}  {:>10}  {}",
            job.id,
            job.kind,
            job.state,
            job.total,
            job.done,
            job.failed,
            age(job.created_at),
            cost,
            one_line(&job.model, 40)
        );
        if writeln!(stdout, "{line}").is_err() {
            break;
        }
    }
    Ok(exit::OK)
}

async fn show(global: &GlobalArgs, id: i64, failed: bool) -> Result<u8, Failure> {
    let store = store_only(global).await?;
    let job = store
        .read(move |s| s.job(id))
        .await?
        .ok_or_else(|| Failure::usage(format!("There is no job {id}: `geminal jobs` lists them.")))?;
    let mut stdout = std::io::stdout();
    if failed {
        // The dead letter: failed lines, then (for a job that is over) those never answered.
        let over = crate::jobs::state_is_over(&job.state);
        for state in ["failed", "pending"] {
            if state == "pending" && !over {
                break;
            }
            let mut after = 0;
            loop {
                let page = store.read(move |s| s.job_lines(id, Some(state), after, 500)).await?;
                let Some(last) = page.last() else { break };
                after = last.line;
                for line in page {
                    let input = serde_json::from_str::<StoredInput>(&line.input).ok();
                    let value = serde_json::json!({
                        "id": line.key,
                        // A bad input line has no prompt.
                        "prompt": input.as_ref().map(|i| i.prompt.clone()).filter(|p| !p.is_empty()),
                        "error": {
                            "kind": line.error_kind.as_deref().unwrap_or(if job.state == "expired" { ErrorKind::Expired.as_str() } else { ErrorKind::NotAnswered.as_str() }),
                            "message": line.error.as_ref().map_or_else(
                                || "the job ended before this line was answered".to_owned(),
                                |e| one_line(&crate::format::stored_sentence(e), 300),
                            ),
                        }
                    });
                    let text = super::batch::output_line(&value, stdout.is_terminal());
                    if stdout.write_all(text.as_bytes()).is_err() {
                        return Ok(exit::OK);
                    }
                }
            }
        }
        return Ok(exit::OK);
    }
    let (prompt_tokens, output_tokens, thought_tokens) = store.read(move |s| s.job_tokens(id)).await?;
    let field = |name: &str, value: &str| format!("{name:<13}{}\n", one_line(value, 200));
    let mut text = String::new();
    text += &field("job", &job.id.to_string());
    text += &field("kind", &job.kind);
    text += &field("state", &job.state);
    text += &field("model", &job.model);
    if let Some(name) = &job.remote_name {
        text += &field("remote", name);
    }
    if let Some(path) = &job.input_path {
        text += &field("input", path);
    }
    text += &field(
        "lines",
        &format!(
            "{} ({} answered, {} failed, {} waiting)",
            job.total,
            job.done,
            job.failed,
            job.total - job.done - job.failed
        ),
    );
    let priced = if job.kind == "remote" { " (batch price)" } else { "" };
    text += &field("tokens", &format!("{prompt_tokens} in, {output_tokens} out, {thought_tokens} thinking{priced}"));
    if job.done > 0 {
        text += &field("cost", &format!("{}{priced}", job.cost));
    }
    text += &field("priority", &job.priority.to_string());
    text += &field("age", &age(job.created_at));
    if let Some(error) = &job.error {
        text += &field("error", &job_error_text(error));
    }
    let _ = stdout.write_all(text.as_bytes());
    Ok(exit::OK)
}

/// A job's error in words: why it failed, or why it was never submitted.
fn job_error_text(error: &StoredError) -> String {
    let said = one_line(&crate::format::stored_sentence(error), 300);
    match error {
        StoredError::Data { detail, .. } => match (detail.after_job, detail.not_submitted) {
            (Some(job), _) => format!("not submitted, because job {job} before it could not be: {said}"),
            (None, true) => format!("not submitted: {said}"),
            (None, false) => said,
        },
        StoredError::Legacy(_) => said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_failure_says_what_to_do_once() {
        let server = crate::llm::ApiError::Server { status: 503, overloaded: false, retry_after: None };
        let failure = failure(JobError::Upload(crate::engine::UploadError::Api(server)));
        assert_eq!(failure.message.matches("try again").count(), 1, "{}", failure.message);
        let read = failure_message(JobError::Upload(crate::engine::UploadError::Changed));
        assert!(read.ends_with("changed while it was uploaded: try again."), "{read}");
    }

    fn failure_message(e: JobError) -> String {
        failure(e).message
    }
}
