//! `geminal batch FILE --remote`: each line is composed as `batch` composes it, the lines go to
//! Gemini's Batch API as one job per model (more when the request file would be too big), the
//! jobs are recorded before anything is sent, and (unless `--detach`) waited for and collected
//! into the same JSON lines as a local batch.

use std::io::Write;
use std::time::Instant;

use tokio::sync::mpsc;

use super::batch::{BatchArgs, RoleChoice, output_line, prepare_line};
use super::batch_input::{self, Input, Item, Written};
use super::exit::{self, Failure};
use super::{GlobalArgs, HistoryUse, open_session};
use crate::chat::Settings;
use crate::jobs::{JobBuilder, JobLimits, ReadyLine, StoredInput};

pub async fn run(
    global: &GlobalArgs,
    flags: &super::ConnectArgs,
    settings: Settings,
    args: &BatchArgs,
    input: Input,
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
    let skip = Written::read(args.resume.as_deref())?;
    let mut out = super::jobs::open_output(args.resume.as_deref())?;
    let to_terminal = args.resume.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let defaults = JobLimits::default();
    let limits = JobLimits {
        inline_max_bytes: args.inline_max_bytes.unwrap_or(defaults.inline_max_bytes),
        inline_max_lines: defaults.inline_max_lines,
        file_max_bytes: args.job_max_bytes.unwrap_or(defaults.file_max_bytes).max(1),
    };
    let input_path = (!input.is_stdin())
        .then(|| std::fs::canonicalize(&input.path).unwrap_or(input.path.clone()).display().to_string());
    let mut builder = JobBuilder::new(runner.clone(), limits, input_path, args.priority.unwrap_or(0));

    let (tx, mut rx) = mpsc::channel::<Item>(64);
    let reader = tokio::spawn(batch_input::read_prompts(input, skip, tx, tokio_util::sync::CancellationToken::new()));
    let mut bad = 0u64;
    let namespace = session.options().cache_namespace.clone();
    let use_cache = session.options().use_cache;
    let mut write = |value: &serde_json::Value| -> Result<(), Failure> {
        out.write_all(output_line(value, to_terminal).as_bytes()).map_err(|e| write_failed(&e))
    };
    while let Some(item) = rx.recv().await {
        let started = Instant::now();
        let prompt = match item {
            Item::Prompt(p) => *p,
            Item::Skipped(..) => continue,
            Item::Bad(line) => {
                bad += 1;
                write(&line.output())?;
                continue;
            }
        };
        let line = i64::try_from(prompt.line).unwrap_or(i64::MAX);
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
            attachments: prompt.attachments.iter().map(|a| a.display().to_string()).collect(),
            run: None,
        };
        builder.add(ReadyLine { line, request: turn.request(), stored }).await.map_err(super::jobs::failure)?;
    }
    let read = reader.await.unwrap_or_default();
    if let Some(why) = read.error {
        // Nothing is submitted from an input that could not be read to its end.
        return Err(Failure::new(
            exit::FAILURE,
            format!("Nothing was submitted: {why}; check the input and try again."),
        ));
    }
    let skipped = read.skipped;
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
