//! `geminal batch FILE --remote`: each line is composed as `batch` composes it, the lines go to
//! Gemini's Batch API as one job per model (more when the request file would be too big), the
//! jobs are recorded before anything is sent, and (unless `--detach`) waited for and collected
//! into the same JSON lines as a local batch.

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use tokio::sync::mpsc;

use super::batch::{BatchArgs, Prompt, RoleChoice, answered_ids, output_line, prepare_line, read_prompts};
use super::exit::{self, Failure};
use super::{GlobalArgs, HistoryUse, open_session};
use crate::chat::Settings;
use crate::jobs::{JobBuilder, JobLimits, ReadyLine, StoredInput};

pub async fn run(
    global: &GlobalArgs,
    flags: &super::ConnectArgs,
    settings: Settings,
    args: &BatchArgs,
    input: &std::path::Path,
) -> Result<u8, Failure> {
    if args.no_save {
        return Err(Failure::usage(
            "--remote keeps its jobs in the history: drop --no-save (a remote job must be collected later).",
        ));
    }
    if args.detach && global.demo {
        return Err(Failure::usage(
            "--detach needs a real Gemini: the demo's simulated jobs end with the process; drop --detach to wait for them.",
        ));
    }
    let (conn, session) = open_session(global, flags, None, args.no_cache, HistoryUse::Save).await?;
    if let Some(name) = &args.role {
        conn.config.role(name).map_err(Failure::usage)?;
    }
    // A spent budget refuses a job before anything is built or sent (unless --over-budget).
    super::check_budget(&conn, &session, flags.over_budget).await?;
    let runner = super::jobs::runner(&session)?;
    let config = conn.config.clone();
    let choice = RoleChoice { role: args.role.clone(), model_flag: flags.model.is_some() };
    let skip = match &args.resume {
        Some(path) => answered_ids(path)?,
        None => HashSet::new(),
    };
    let mut out = super::jobs::open_output(args.resume.as_deref())?;
    let to_terminal = args.resume.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let defaults = JobLimits::default();
    let limits = JobLimits {
        inline_max_bytes: args.inline_max_bytes.unwrap_or(defaults.inline_max_bytes),
        inline_max_lines: defaults.inline_max_lines,
        file_max_bytes: args.job_max_bytes.unwrap_or(defaults.file_max_bytes).max(1),
    };
    let input_path = (input.as_os_str() != "-")
        .then(|| std::fs::canonicalize(input).unwrap_or(input.to_owned()).display().to_string());
    let mut builder = JobBuilder::new(runner.clone(), limits, input_path, args.priority.unwrap_or(0));

    let (tx, mut rx) = mpsc::channel::<Result<Prompt, String>>(64);
    let reader = tokio::spawn(read_prompts(input.to_owned(), skip, tx, tokio_util::sync::CancellationToken::new()));
    let mut seen = HashSet::new();
    let (mut lines, mut bad) = (0i64, 0u64);
    let namespace = session.options().cache_namespace.clone();
    let use_cache = session.options().use_cache;
    let mut write = |value: &serde_json::Value| -> Result<(), Failure> {
        out.write_all(output_line(value, to_terminal).as_bytes()).map_err(|e| write_failed(&e))
    };
    while let Some(item) = rx.recv().await {
        lines += 1;
        let started = Instant::now();
        let prompt = match item {
            Ok(p) => p,
            Err(message) => {
                bad += 1;
                write(&serde_json::json!({ "id": null, "error": { "kind": "bad_input", "message": message } }))?;
                continue;
            }
        };
        if !seen.insert(prompt.id.clone()) {
            bad += 1;
            let message = format!("the id {} is used by an earlier line: ids must be unique", prompt.id);
            write(&super::batch::error_line(&prompt, None, &message, "bad_input", started))?;
            continue;
        }
        let prepared = match prepare_line(&session, &config, &settings, &choice, &prompt, started).await {
            Ok(prepared) => prepared,
            Err(line) => {
                bad += 1;
                write(&line)?;
                continue;
            }
        };
        let turn = &prepared.turn;
        // The Batch API is Gemini's, reached with the gemini provider's key: another
        // provider's model is answered locally or not at all.
        let (provider, _) = crate::provider::name::split_canonical(&turn.model, &|p| config.names.is_known(p));
        if provider != crate::provider::name::GEMINI {
            bad += 1;
            let message = format!(
                "{} is a model of provider {provider}, and remote batches run on Gemini's Batch API: send this line without --remote",
                crate::sanitize::one_line(&turn.model, 80)
            );
            write(&super::batch::error_line(&prompt, Some(&turn.model), &message, "bad_input", started))?;
            continue;
        }
        let cache_key =
            (use_cache && turn.tools.is_empty()).then(|| crate::attach::hex(&crate::chat::cache_key(&namespace, turn)));
        let stored = StoredInput {
            id: prompt.id.clone(),
            prompt: prompt.prompt.clone(),
            model: turn.model.clone(),
            system: turn.system.clone(),
            role: prepared.role.clone(),
            settings: prepared.settings.to_stored(),
            cache_key,
        };
        builder.add(ReadyLine { line: lines, request: turn.request(), stored }).await.map_err(super::jobs::failure)?;
    }
    let skipped = reader.await.unwrap_or(0);
    let ids = builder.submit(&|_| {}).await.map_err(super::jobs::failure)?;
    for id in &ids {
        let job = runner.job(*id).await.map_err(super::jobs::failure)?;
        exit::say(&format!(
            "job {id} submitted: {} prompts on {} ({}).",
            job.total,
            job.model,
            job.remote_name.as_deref().unwrap_or("-")
        ));
    }
    if skipped > 0 {
        exit::say(&format!("{skipped} prompts skipped as already answered."));
    }
    if args.detach {
        let mut stdout = std::io::stdout();
        for id in &ids {
            let _ = writeln!(stdout, "{id}");
        }
        exit::say("detached: `geminal jobs wait ID` collects the answers (`geminal jobs` lists the jobs).");
        return Ok(if bad > 0 { exit::SOME_FAILED } else { exit::OK });
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        exit::say("waiting for Gemini; Ctrl-C leaves the job running (`geminal jobs wait ID` collects it later).");
    }
    let code = super::jobs::wait_and_collect(
        &runner,
        &ids,
        &mut |value| write(value).map_err(|_| std::io::ErrorKind::Other.into()),
        true,
    )
    .await?;
    if bad > 0 && code == exit::OK {
        return Err(Failure::new(
            exit::SOME_FAILED,
            "Some prompts could not be sent: see the error field of their lines.",
        ));
    }
    Ok(code)
}

fn write_failed(e: &std::io::Error) -> Failure {
    Failure::new(
        exit::FAILURE,
        format!(
            "Writing the results failed ({}): check free space; `geminal jobs fetch ID -o OUT` writes them again.",
            e.kind()
        ),
    )
}
