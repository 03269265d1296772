//! `geminal history`: list, search, show, export and delete saved conversations; back up and
//! repair the file.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::exit::{self, Failure};
use super::output;
use super::{GlobalArgs, open_store};
use crate::chat::Role;
use crate::config::Config;
use crate::format::{ago, date};
use crate::sanitize::{one_line, sanitize};
use crate::store::{
    Conversation, MatchedIn, MessageStatus, Repair, SearchHit, Store, StoreHandle, StoredMessage, now_ms,
};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    /// How many conversations to list (0 lists none).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// List only the conversations `geminal serve` saved for client key NAME.
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Search every prompt, answer and title: words match as prefixes (birds finds bird),
    /// "exact phrases", prefix*, and upper-case AND/OR/NOT between words; the rest is literal.
    Search {
        #[arg(value_name = "QUERY", required = true)]
        query: Vec<String>,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
    },
    /// Show a conversation.
    Show { id: i64 },
    /// Export a conversation as Markdown or JSON (to stdout, or to a new private file with -o).
    Export {
        id: i64,
        /// Markdown or JSON; by default JSON when FILE ends in .json, else Markdown.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// Copy the whole history to FILE: one consistent, standalone database, even while geminal
    /// runs elsewhere (copying the database file by hand may miss what is still in its -wal).
    Backup {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check the database, and if it is damaged, rebuild it from every row that can still be
    /// read (the damaged file is kept aside as <name>.corrupt-<time>).
    Repair,
    /// Give a conversation a new title: `history rename 42 Bird migration notes`.
    Rename {
        id: i64,
        /// The new title (several words need no quotes).
        #[arg(required = true, value_name = "TITLE")]
        title: Vec<String>,
    },
    /// Delete a conversation (asks first on a terminal).
    Rm {
        id: i64,
        /// Delete without asking.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

pub async fn run(global: &GlobalArgs, args: &HistoryArgs) -> Result<u8, Failure> {
    if args.client.is_some() && args.command.is_some() {
        return Err(Failure::usage("--client lists a client's conversations: give it without a subcommand."));
    }
    let config = Config::resolve(&global.overrides())?;
    // Repair works on the file itself: opening the store would set a file it cannot read aside.
    let store = match args.command {
        Some(HistoryCommand::Repair) => return repair(&config).await,
        Some(HistoryCommand::Rename { .. } | HistoryCommand::Rm { .. }) => open_store(&config).await?,
        _ => open_for_reading(&config).await?,
    };
    let text = match &args.command {
        None => list(&store, args.limit, args.client.clone()).await?,
        Some(HistoryCommand::Search { query, limit }) => search(&store, &query.join(" "), *limit).await?,
        Some(HistoryCommand::Show { id }) => show(&store, *id).await?,
        Some(HistoryCommand::Export { id, format, output, force }) => {
            return export(&store, *id, *format, output.as_deref(), *force).await;
        }
        Some(HistoryCommand::Rename { id, title }) => return rename(&store, *id, &title.join(" ")).await,
        Some(HistoryCommand::Rm { id, yes }) => return remove(&store, *id, *yes).await,
        Some(HistoryCommand::Repair) => return repair(&config).await,
        Some(HistoryCommand::Backup { file, force }) => return backup(&store, file, *force).await,
    };
    let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
    Ok(exit::OK)
}

/// The history for a command that only reads: opened as usual, or, when it cannot be written
/// (a read-only file, directory or mount), for reading only; else the usual failure.
async fn open_for_reading(config: &Config) -> Result<StoreHandle, Failure> {
    let failure = match open_store(config).await {
        Ok(store) => return Ok(store),
        Err(failure) => failure,
    };
    let Some(path) = config.db_path.clone().filter(|p| failure.code == exit::STORAGE && p.is_file()) else {
        return Err(failure);
    };
    match tokio::task::spawn_blocking(move || Store::open_read_only(&path)).await {
        Ok(Ok(store)) => Ok(StoreHandle::spawn(store)?),
        _ => Err(failure),
    }
}

async fn list(store: &StoreHandle, limit: usize, client: Option<String>) -> Result<String, Failure> {
    // `-n 0` asks for no rows, as `head -n 0` does: nothing, not "no conversations yet".
    if limit == 0 {
        return Ok(String::new());
    }
    let rows = match client {
        Some(name) => {
            let rows = store.read({
                let name = name.clone();
                move |s| s.list_client_conversations(&name, limit)
            });
            let rows = rows.await?;
            if rows.is_empty() {
                return Ok(format!("No conversations saved for client {}.\n", one_line(&name, 40)));
            }
            rows
        }
        None => store.read(move |s| s.list_conversations(limit, 0)).await?,
    };
    if rows.is_empty() {
        return Ok("No saved conversations yet: `geminal ask \"...\"` starts one.\n".to_owned());
    }
    let now = now_ms();
    let mut out = format!("{:>5}  {:<9}  {:>4}  {:<22}  {}\n", "ID", "UPDATED", "MSGS", "MODEL", "TITLE");
    for c in rows {
        out.push_str(&format!(
            "{:>5}  {:<9}  {:>4}  {:<22}  {}\n",
            c.id,
            ago(c.updated_at, now),
            c.messages,
            one_line(&c.model, 22),
            one_line(&c.title, 70)
        ));
    }
    Ok(out)
}

async fn search(store: &StoreHandle, query: &str, limit: usize) -> Result<String, Failure> {
    if limit == 0 {
        return Ok(String::new());
    }
    let owned = query.to_owned();
    let hits = store.search(owned, limit).await?;
    if hits.is_empty() {
        return Ok(format!("Nothing matches {}.\n", one_line(query, 60)));
    }
    let color = std::io::stdout().is_terminal();
    let (on, off) = if color { ("\x1b[1;7m", "\x1b[0m") } else { ("[", "]") };
    let now = now_ms();
    let mut out = String::new();
    for hit in hits {
        let who = match hit.matched_in {
            MatchedIn::Title => "title",
            MatchedIn::Message { role: Role::User, .. } => "you",
            MatchedIn::Message { role: Role::Model, .. } => "gemini",
        };
        // Sanitize first (the markers are private-use characters and survive), then mark.
        let snippet = one_line(&hit.snippet, 400).replace(SearchHit::MARK_START, on).replace(SearchHit::MARK_END, off);
        out.push_str(&format!(
            "#{} {} ({})\n    {who}: {snippet}\n",
            hit.conversation_id,
            one_line(&hit.title, 70),
            ago(hit.updated_at, now)
        ));
    }
    Ok(out)
}

/// A conversation and the branch shown of it (what the model was last sent).
async fn load(store: &StoreHandle, id: i64) -> Result<(Conversation, Vec<StoredMessage>), Failure> {
    Ok(store.read(move |s| Ok((s.conversation(id)?, s.active_path(id)?))).await?)
}

async fn show(store: &StoreHandle, id: i64) -> Result<String, Failure> {
    let (c, messages) = load(store, id).await?;
    let calls = store.read(move |s| s.tool_calls_of_conversation(id)).await?;
    // The conversation's cost counts every answer, those of other branches too.
    let every = store.read(move |s| s.messages(id)).await?;
    let mut total = crate::money::Total::default();
    for m in every.iter().filter(|m| m.role == Role::Model && (m.prompt_tokens.is_some() || m.cached)) {
        total.add(m.cost.cost);
    }
    let bold = |s: &str| {
        if std::io::stdout().is_terminal() { format!("\x1b[1m{s}\x1b[0m") } else { s.to_owned() }
    };
    let mut out = format!("{}\n", bold(&format!("#{} {}", c.id, one_line(&c.title, 100))));
    out.push_str(&format!(
        "{} · {} · {} messages · cost {total}\n",
        one_line(&c.model, 40),
        date(c.created_at),
        messages.len()
    ));
    if let Some(system) = &c.system_prompt {
        out.push_str(&format!("system: {}\n", one_line(system, 200)));
    }
    for m in &messages {
        let who = match m.role {
            Role::User => "you".to_owned(),
            Role::Model => {
                let model = one_line(m.model.as_deref().unwrap_or("gemini"), 40);
                match m.cost.label(m.prompt_tokens.is_some(), m.cached) {
                    Some(cost) => format!("{model} · {cost}"),
                    None => model,
                }
            }
        };
        out.push_str(&format!("\n{}\n", bold(&format!("── {who}{} ──", crate::export::status_note(m)))));
        for a in &m.attachments {
            out.push_str(&format!("{}\n", crate::attach::label(a)));
        }
        if let Some(thoughts) = m.thoughts.as_deref().map(|t| t.trim_matches('\n')).filter(|t| !t.is_empty()) {
            // The model's thoughts, apart from (and above) the answer: dimmed on a terminal.
            let thoughts = format!("thoughts:\n{}", sanitize(thoughts));
            let shown = if std::io::stdout().is_terminal() { super::output::dimmed(&thoughts) } else { thoughts };
            out.push_str(&format!("{shown}\n\n"));
        }
        let grounding = crate::grounding::Grounding::from_stored(m.grounding.as_deref());
        let mine: Vec<&crate::store::StoredToolCall> = calls.iter().filter(|t| t.message_id == m.id).collect();
        let text = if mine.is_empty() {
            crate::grounding::plain_answer(&m.text, grounding.as_ref())
        } else {
            // Each round's text, then its calls, one line each (escaped, cut).
            let mut shown = String::new();
            let mut from = 0;
            for (at, call) in crate::export::split_at_calls(&m.text, &mine) {
                shown.push_str(&sanitize(&m.text[from..at]));
                if !shown.is_empty() && !shown.ends_with('\n') {
                    shown.push('\n');
                }
                shown.push_str(&tool_call_lines(call));
                from = at;
            }
            shown.push_str(&sanitize(&m.text[from..]));
            shown
        };
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
        if let (Some(error), MessageStatus::Error | MessageStatus::Blocked | MessageStatus::Interrupted) =
            (&m.error, m.status)
        {
            let error = crate::format::stored_sentence(error);
            out.push_str(&format!("[{}]\n", one_line(&error, 200)));
        }
    }
    Ok(out)
}

/// A saved call and its end, one line each: `→ tool fs.read {"p":1}` / `← ok {...}`.
fn tool_call_lines(call: &crate::store::StoredToolCall) -> String {
    let name = match &call.call.server {
        Some(server) => format!("{}.{}", one_line(server, 40), one_line(&call.call.name, 64)),
        None => one_line(&call.call.name, 64),
    };
    let mut out = format!("→ tool {name} {}\n", one_line(&call.call.arguments, 200));
    let ended = match &call.end {
        Some(end) => {
            let what = end
                .error_kind
                .as_deref()
                .and_then(|kind| crate::chat::failure_from_stored(kind, end.error_detail.as_deref()))
                .map(|f| crate::chat::told_to_model(&f))
                .unwrap_or_else(|| one_line(end.result.as_deref().unwrap_or(""), 200));
            // And the media it gave beside its result ("1 image/png").
            let media: Vec<String> = end.media.iter().map(|(mime, _)| one_line(mime, 40)).collect();
            let media = match media.len() {
                0 => String::new(),
                n => format!(" (+ {n} media: {})", media.join(", ")),
            };
            format!("← {}{media}: {}\n", end.status.replace('_', " "), one_line(&what, 200))
        }
        None => "← the call did not return\n".to_owned(),
    };
    out.push_str(&ended);
    out
}

async fn export(
    store: &StoreHandle,
    id: i64,
    format: Option<ExportFormat>,
    output: Option<&Path>,
    force: bool,
) -> Result<u8, Failure> {
    // The format follows the file's extension unless --format says otherwise (as `/export`).
    let format = format.unwrap_or(match output {
        Some(path) if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) => ExportFormat::Json,
        _ => ExportFormat::Md,
    });
    if let Some(path) = output {
        writable_new_file(path, force)?;
    }
    let (c, messages) = load(store, id).await?;
    let calls = store.read(move |s| s.tool_calls_of_conversation(id)).await?;
    let text = match format {
        ExportFormat::Md => crate::export::markdown_with_tools(&c, &messages, &calls),
        ExportFormat::Json => {
            crate::export::json_with_tools(&c, &messages, &store.read(move |s| s.messages(id)).await?, &calls)
        }
    };
    match output {
        // A file gets the exact text; the terminal gets it made safe.
        Some(path) => crate::export::write_private(path, &text, force).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(path),
            // A place the user may not write to (or that is not a directory) is theirs to fix.
            kind @ (std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::NotFound
            | std::io::ErrorKind::NotADirectory
            | std::io::ErrorKind::IsADirectory
            | std::io::ErrorKind::ReadOnlyFilesystem) => {
                Failure::usage(format!("Could not write {} ({kind}): choose a place you may write to.", shown(path)))
            }
            kind => Failure::new(
                exit::FAILURE,
                format!("Could not write {} ({kind}): check the path and free space.", shown(path)),
            ),
        })?,
        // Stdout gets it made safe even on a pipe (like Markdown); JSON keeps the exact data.
        None => {
            let shown = match format {
                ExportFormat::Md => sanitize(&text),
                ExportFormat::Json => output::json_for(&text, true),
            };
            let _ = output::write_flush(&mut std::io::stdout(), shown.as_bytes());
        }
    }
    Ok(exit::OK)
}

/// A path for a message: on one line, without control characters.
fn shown(path: &Path) -> String {
    one_line(&path.display().to_string(), 200)
}

fn exists(path: &Path) -> Failure {
    Failure::usage(format!(
        "The file {} already exists: choose another name, or add --force to replace it.",
        shown(path)
    ))
}

/// Refuses, as a usage error, a file to write that exists (without --force) or whose directory
/// does not: the user named it, and a typo is theirs to fix, not a history or server problem.
fn writable_new_file(path: &Path, force: bool) -> Result<(), Failure> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(exists(path));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "The directory {} does not exist: create it, or choose another place for {}.",
            shown(dir),
            shown(Path::new(path.file_name().unwrap_or_default()))
        )));
    }
    Ok(())
}

async fn backup(store: &StoreHandle, file: &Path, force: bool) -> Result<u8, Failure> {
    writable_new_file(file, force)?;
    let dest = file.to_owned();
    store.call(move |s| s.backup_to(&dest)).await?;
    eprintln!("geminal: The history was copied to {}.", file.display());
    Ok(exit::OK)
}

async fn repair(config: &Config) -> Result<u8, Failure> {
    let path = config.db_path.clone().ok_or_else(|| {
        Failure::new(exit::STORAGE, "No place for the history database was found: pass --db PATH or set GEMINAL_DB.")
    })?;
    let shown = path.clone();
    let repaired = tokio::task::spawn_blocking(move || Store::repair(&path))
        .await
        .map_err(|_| Failure::new(exit::STORAGE, "Repairing the history database failed unexpectedly: try again."))??;
    let counted = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let text = match repaired {
        Repair::Healthy { conversations, messages } => format!(
            "The history database {} is healthy ({} and {}): nothing to repair.\n",
            shown.display(),
            counted(conversations, "conversation"),
            counted(messages, "message")
        ),
        Repair::Rebuilt { conversations, messages, lost_conversations, lost_messages, kept_as } => {
            let mut lost = String::new();
            if lost_conversations > 0 {
                lost.push_str(&format!("; {} could not be read", counted(lost_conversations, "conversation")));
            }
            if lost_messages > 0 {
                lost.push_str(&format!("; {} could not be read", counted(lost_messages, "message")));
            }
            format!(
                "The history database {} was damaged: kept {} and {}{lost}; the damaged file is kept as {}.\n",
                shown.display(),
                counted(conversations, "conversation"),
                counted(messages, "message"),
                kept_as.display()
            )
        }
    };
    let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
    Ok(exit::OK)
}

async fn rename(store: &StoreHandle, id: i64, title: &str) -> Result<u8, Failure> {
    if title.trim().is_empty() {
        return Err(Failure::usage(
            "The new title is empty: give a few words, e.g. `geminal history rename 42 Trip plans`.",
        ));
    }
    let title = title.to_owned();
    store.call(|s| s.ensure_writable()).await?;
    store.call(move |s| s.rename_conversation(id, &title)).await?;
    eprintln!("geminal: renamed conversation {id}.");
    Ok(exit::OK)
}

async fn remove(store: &StoreHandle, id: i64, yes: bool) -> Result<u8, Failure> {
    let (c, messages) = load(store, id).await?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(format!("Not deleting conversation {id} without confirmation: add --yes.")));
        }
        eprint!("Delete conversation {id} \"{}\" ({} messages)? [y/N] ", one_line(&c.title, 60), messages.len());
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("geminal: nothing deleted.");
            return Ok(exit::OK);
        }
    }
    store.call(move |s| s.delete_conversation(id)).await?;
    eprintln!("geminal: deleted conversation {id}.");
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_a_terminal_escapes_bidi_and_keeps_the_data() {
        let text = serde_json::to_string(&serde_json::json!({"t": "a\u{202e}b\u{1b}c 世界 🦀"})).unwrap();
        let shown = output::json_for(&text, true);
        assert!(!shown.contains('\u{202e}') && !shown.contains('\u{1b}'));
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back["t"], "a\u{202e}b\u{1b}c 世界 🦀");
        assert_eq!(output::json_for(&text, false), text, "a pipe gets the exact text");
    }
}
