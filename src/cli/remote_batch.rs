//! `geminal batch FILE --remote`: each line is composed as `batch` composes it, the lines go to
//! Gemini's Batch API as one job per model (more when the request file would be too big), the
//! jobs are recorded before anything is sent, and (unless `--detach`) waited for and collected
//! into the same JSON lines as a local batch. Each line's worst case at the batch price is
//! reserved against the budgets before it goes into a job.

use std::io::Write;
use std::time::Instant;

use tokio::sync::mpsc;

use super::batch::{BatchArgs, RoleChoice, output_line, prepare_line};
use super::batch_budget::{NotLaunched, RunBudget, Stopped};
use super::batch_input::{self, Input, Item, Written};
use super::exit::{self, Failure};
use super::{GlobalArgs, HistoryUse, open_session};
use crate::chat::{Settings, worst_prompt_tokens};
use crate::error_data::ErrorKind;
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
    // Each line is set up as every turn is (role, settings, attachments, context).
    let turns =
        crate::turn::Runner::new(std::sync::Arc::new(session), conn.config.model.clone(), conn.config.roles.clone());
    let session = turns.session().clone();
    if let Some(name) = &args.role {
        conn.config.role(name).map_err(Failure::usage)?;
    }
    // A spent budget refuses a job before anything is built or sent (unless --over-budget).
    super::check_budget(&conn, &session, flags.over_budget).await?;
    // Each line's worst case at the batch price is reserved before it goes into a job: against
    // --budget here, and against the config's budgets in the database (one reservation that
    // grows line by line, handed to the jobs once they are submitted). A line that could pass
    // either is not submitted, nor any after it.
    let budgets = if flags.over_budget { crate::config::Budgets::default() } else { conn.config.budgets };
    let budget = RunBudget::new(args.budget, args.budget.is_some(), conn.config.prices.clone()).at_batch_price();
    let shared = session.store().cloned().filter(|_| budgets.daily.is_some() || budgets.monthly.is_some());
    let (mut held, mut refused, mut not_sent): (Option<i64>, Option<Stopped>, u64) = (None, None, 0);
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
        let prepared = match prepare_line(&turns, &config, &settings, &choice, &prompt, started).await {
            Ok(ready) => ready.prepared,
            Err(line) => {
                bad += 1;
                write(&line)?;
                continue;
            }
        };
        let turn = &prepared.turn;
        // The Batch API is Gemini's, reached with the gemini provider's key: another
        // provider's model is answered locally or not at all.
        let model = crate::provider::name::ModelRef::from_canonical(&turn.model, &|p| config.names.is_known(p));
        if !model.is_gemini() {
            let provider = model.provider();
            bad += 1;
            let message = format!(
                "{} is a model of provider {provider}, and remote batches run on Gemini's Batch API: send this line without --remote",
                crate::sanitize::one_line(&turn.model, 80)
            );
            write(&super::batch::error_line(&prompt, Some(&turn.model), &message, ErrorKind::BadInput, started))?;
            continue;
        }
        if refused.is_some() {
            not_sent += 1;
            continue;
        }
        let worst = match budget.reserve(&turn.model, worst_prompt_tokens(turn), prepared.settings.max_tokens).await {
            Ok(reservation) => reservation.worst,
            // Not written: --resume sends it later.
            Err(NotLaunched::OverBudget) => continue,
            Err(NotLaunched::Unpriced(why)) => {
                bad += 1;
                write(&super::batch::error_line(&prompt, Some(&turn.model), &why, ErrorKind::UnknownPrice, started))?;
                continue;
            }
        };
        if let Some(store) = shared.as_ref().filter(|_| worst > crate::money::Usd::ZERO) {
            let (daily, monthly, onto) = (budgets.daily, budgets.monthly, held);
            match store.call(move |s| s.reserve_onto(onto, worst, daily, monthly)).await? {
                Ok(id) => held = Some(id),
                Err(refusal) => {
                    refused = Some(Stopped::Shared(refusal));
                    not_sent += 1;
                    continue;
                }
            }
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
        if let (Some(store), Some(id)) = (&shared, held) {
            store.call(move |s| s.release_reservation(id)).await?;
        }
        builder.abandon(&why).await;
        return Err(Failure::new(
            exit::FAILURE,
            format!("Nothing was submitted: {why}; check the input and try again."),
        ));
    }
    let skipped = read.skipped;
    let submitted = builder.submit(&|_| {}).await;
    // The reservation lives with the jobs (until they are collected), or goes if none was sent.
    if let (Some(store), Some(id)) = (&shared, held) {
        let jobs = submitted.as_ref().map(Vec::clone).unwrap_or_default();
        let handed = match jobs.is_empty() {
            true => store.call(move |s| s.release_reservation(id)).await,
            false => store.call(move |s| s.hand_reservation_to_jobs(id, &jobs)).await,
        };
        handed?;
    }
    let ids = submitted.map_err(super::jobs::failure)?;
    let capped = settings.max_tokens.is_some();
    let stopped = match (refused, budget.stopped()) {
        (Some(stopped), _) => Some((stopped, not_sent)),
        (None, Some((stopped, count))) => Some((stopped, count)),
        (None, None) => None,
    };
    let budget_stop = stopped.map(|(stopped, count)| {
        Failure::new(exit::BUDGET, super::batch_budget::not_submitted_text(&stopped, count, capped))
    });
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
    if ids.is_empty()
        && let Some(stop) = budget_stop
    {
        return Err(stop);
    }
    if args.detach {
        let mut stdout = std::io::stdout();
        for id in &ids {
            let _ = writeln!(stdout, "{id}");
        }
        exit::say("detached: `geminal jobs wait ID` collects the answers (`geminal jobs` lists the jobs).");
        if let Some(stop) = budget_stop {
            return Err(stop);
        }
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
    if let Some(stop) = budget_stop.filter(|_| code == exit::OK) {
        return Err(stop);
    }
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
