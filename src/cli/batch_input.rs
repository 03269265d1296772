//! A `batch` input: its format decided once per file (by its extension, else by its first
//! non-blank line: JSON lines or one prompt a line), read exactly once as a stream (a pipe or
//! FIFO is never read ahead; only a regular file is looked over first, to count its lines and
//! refuse repeated ids before anything is sent), each line parsed into a prompt or a bad line
//! that keeps its id.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::exit::{self, Failure};
use crate::chat::Settings;

/// How every line of one input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Each non-blank line is a prompt, as written (its id is its line number).
    Text,
    /// Each non-blank line is a JSON object with a "prompt".
    Json,
}

impl Format {
    /// The format a file's name says: `.jsonl`, `.ndjson` and `.json` hold JSON lines, any other
    /// extension text; `None` for a name without one (stdin, `/dev/fd/N`, a FIFO).
    pub(super) fn by_name(path: &Path) -> Option<Format> {
        if path.as_os_str() == "-" {
            return None;
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(if matches!(ext.as_str(), "jsonl" | "ndjson" | "json") { Format::Json } else { Format::Text })
    }

    /// The format of an input whose name says nothing, by its first non-blank line.
    pub(super) fn by_first_line(line: &str) -> Format {
        if line.trim_start().starts_with('{') { Format::Json } else { Format::Text }
    }
}

/// A JSON line's own fields; its generation settings (any of the registry's, by key, such as
/// `temperature`, `top_p`, `thinking`, `search`) are taken out first (`chat::registry`).
#[derive(Debug, Deserialize)]
struct InputLine {
    prompt: String,
    role: Option<String>,
    system: Option<String>,
    model: Option<String>,
    attachments: Option<Vec<PathBuf>>,
    /// Every setting at once, as the history records them (what `batch --retry-failed` sends
    /// again); the line's own settings win over it.
    settings: Option<Settings>,
}

/// One prompt to answer.
#[derive(Debug)]
pub(super) struct Prompt {
    pub(super) id: String,
    /// Its place in the input (1-based).
    pub(super) line: usize,
    pub(super) prompt: String,
    /// The line's own role (over `--role`).
    pub(super) role: Option<String>,
    pub(super) system: Option<String>,
    pub(super) model: Option<String>,
    /// The line's own generation settings (over the flags').
    pub(super) settings: Settings,
    /// Files to attach, as given (relative ones are taken from the input file's directory).
    pub(super) attachments: Vec<PathBuf>,
}

/// A line that is not a prompt: its id (its own, or its line number) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadLine {
    pub(super) id: String,
    pub(super) line: usize,
    pub(super) message: String,
}

impl BadLine {
    /// Its output line, in the shape of every other.
    pub(super) fn output(&self) -> serde_json::Value {
        let head = crate::jobs::line::LineHead { id: &self.id, prompt: None, model: None, latency_ms: None };
        let failed = crate::jobs::line::Failed {
            kind: crate::error_data::ErrorKind::BadInput,
            message: &self.message,
            partial: None,
        };
        crate::jobs::line::failed_line(&head, &failed)
    }
}

/// What the reader hands on, line by line.
#[derive(Debug)]
pub(super) enum Item {
    Prompt(Box<Prompt>),
    Bad(BadLine),
    /// Already answered in the `--resume` file: its id and line number.
    Skipped(String, usize),
}

fn id_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Parses line `n` (1-based: the default id) in `format`; `Ok(None)` for a blank line.
pub(super) fn parse_line(line: &str, n: usize, format: Format) -> Result<Option<Prompt>, BadLine> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let bad = |id: String, message: String| BadLine { id, line: n, message };
    if format == Format::Text {
        return Ok(Some(Prompt {
            id: n.to_string(),
            line: n,
            prompt: trimmed.to_owned(),
            role: None,
            system: None,
            model: None,
            settings: Settings::default(),
            attachments: Vec::new(),
        }));
    }
    let not_a_prompt = |e: serde_json::Error| {
        if e.is_syntax() || e.is_eof() {
            "is not a JSON object".to_owned()
        } else {
            format!("is not a valid prompt object: {e}")
        }
    };
    let mut fields = match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(serde_json::Value::Object(fields)) => fields,
        Ok(_) => return Err(bad(n.to_string(), format!("line {n} is not a JSON object"))),
        Err(e) => return Err(bad(n.to_string(), format!("line {n} {}", not_a_prompt(e)))),
    };
    // The line's own id when it has one that can be read.
    let id = fields.get("id").and_then(id_text).unwrap_or_else(|| n.to_string());
    let named = match crate::chat::registry::take_from(&mut fields) {
        Ok(named) => named,
        Err(e) => return Err(bad(id, format!("line {n}: {}", e.0.trim_end_matches('.')))),
    };
    let parsed: InputLine = match serde_json::from_value(serde_json::Value::Object(fields)) {
        Ok(parsed) => parsed,
        Err(e) => return Err(bad(id, format!("line {n} {}", not_a_prompt(e)))),
    };
    if parsed.prompt.trim().is_empty() {
        return Err(bad(id, format!("line {n} has an empty prompt")));
    }
    let settings = parsed.settings.unwrap_or_default().with(&named);
    if let Err(e) = settings.validate() {
        return Err(bad(id, format!("line {n}: {}", e.0.trim_end_matches('.'))));
    }
    Ok(Some(Prompt {
        id,
        line: n,
        prompt: parsed.prompt,
        role: parsed.role,
        system: parsed.system,
        model: parsed.model,
        settings,
        attachments: parsed.attachments.unwrap_or_default(),
    }))
}

/// An input about to be read: where, in which format (if its name says), how many lines.
#[derive(Debug, Clone)]
pub(super) struct Input {
    pub(super) path: PathBuf,
    pub(super) format: Option<Format>,
    /// Its non-blank lines, when it is a regular file (a stream is never read ahead).
    pub(super) total: Option<u64>,
}

impl Input {
    pub(super) fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }

    /// Could be read again later (`batch --retry-failed`): a regular file.
    pub(super) fn is_file(&self) -> bool {
        self.total.is_some()
    }
}

/// Looks at the input before anything is sent: a missing or unreadable one, or a file whose
/// ids repeat, is refused (usage, exit 2). A regular file is read through once here to count
/// its lines and check its ids; a pipe or FIFO is not touched (not even opened: opening a FIFO
/// waits for its writer).
pub(super) async fn check(path: &Path) -> Result<Input, Failure> {
    if path.as_os_str() == "-" {
        return Ok(Input { path: path.to_owned(), format: None, total: None });
    }
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::usage(match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("The input file {} does not exist: check the path.", path.display())
            }
            kind => format!("Could not read the input file {} ({kind}): check the path.", path.display()),
        })
    })?;
    if meta.is_dir() {
        return Err(Failure::usage(format!("{} is a directory: give a file of prompts.", path.display())));
    }
    let format = Format::by_name(path);
    if !meta.is_file() {
        return Ok(Input { path: path.to_owned(), format, total: None });
    }
    let owned = path.to_owned();
    let scanned = tokio::task::spawn_blocking(move || scan(&owned, format))
        .await
        .map_err(|_| Failure::new(exit::FAILURE, "Reading the input failed unexpectedly: try again."))?;
    let (format, total) = scanned.map_err(|e| match e {
        Scan::Io(kind) => {
            Failure::usage(format!("Could not read the input file {} ({kind}): check the path.", path.display()))
        }
        Scan::Repeated { id, first, again } => Failure::usage(format!(
            "Line {again} of {} repeats the id {} of line {first}: ids must be unique (nothing was sent).",
            path.display(),
            crate::sanitize::one_line(&id, 60)
        )),
    })?;
    Ok(Input { path: path.to_owned(), format: Some(format), total: Some(total) })
}

/// An id as the key that finds a repeated one: 8 bytes whatever its length, so a run of
/// millions of lines does not keep every id in memory.
fn id_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
}

enum Scan {
    Io(std::io::ErrorKind),
    Repeated { id: String, first: usize, again: usize },
}

/// One pass over a regular file: its format, its non-blank lines, and the first repeated id.
/// Only an 8-byte hash of each id is kept; when one comes again, the file is read once more for
/// an earlier line with that very id (a hash shared by two different ids is no repeat).
fn scan(path: &Path, format: Option<Format>) -> Result<(Format, u64), Scan> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut total = 0u64;
    let format = each_id(path, format, &mut |n, id, format| {
        total += 1;
        if seen.insert(id_hash(id)) {
            return Ok(());
        }
        each_id(path, Some(format), &mut |first, earlier, _| {
            if first < n && earlier == id { Err(Scan::Repeated { id: id.to_owned(), first, again: n }) } else { Ok(()) }
        })
        .map(|_| ())
    })?;
    Ok((format, total))
}

/// Calls `f` with the line number, id and format of each non-blank line of the file at `path`
/// (the format decided by the first such line unless given), until it fails; the format.
fn each_id(
    path: &Path,
    format: Option<Format>,
    f: &mut dyn FnMut(usize, &str, Format) -> Result<(), Scan>,
) -> Result<Format, Scan> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| Scan::Io(e.kind()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut format = format;
    let mut n = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(|e| Scan::Io(e.kind()))? == 0 {
            break;
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        let format = *format.get_or_insert_with(|| Format::by_first_line(&line));
        let id = match parse_line(&line, n, format) {
            Ok(Some(p)) => p.id,
            Ok(None) => continue,
            Err(bad) => bad.id,
        };
        f(n, &id, format)?;
    }
    Ok(format.unwrap_or(Format::Text))
}

/// What an earlier output file (`--resume OUT`) already holds: the ids it answers, and the ids
/// it reports as bad input (such a line, still bad, is not written again).
#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) answered: HashSet<String>,
    pub(super) bad: HashSet<String>,
}

impl Written {
    pub(super) fn read(path: Option<&Path>) -> Result<Written, Failure> {
        let Some(path) = path else { return Ok(Written::default()) };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::default()),
            Err(e) => {
                return Err(Failure::new(
                    exit::FAILURE,
                    format!("Could not read {} ({}): check the path.", path.display(), e.kind()),
                ));
            }
        };
        let mut written = Written::default();
        for value in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
            let Some(id) = value.get("id").and_then(|id| id.as_str()).map(str::to_owned) else { continue };
            match value.get("error").filter(|e| !e.is_null()) {
                None => {
                    written.answered.insert(id);
                }
                Some(error)
                    if error.get("kind").and_then(|k| k.as_str())
                        == Some(crate::error_data::ErrorKind::BadInput.as_str()) =>
                {
                    written.bad.insert(id);
                }
                Some(_) => {}
            }
        }
        Ok(written)
    }
}

/// How reading ended.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// Lines skipped as already answered.
    pub(super) skipped: u64,
    /// Bad lines not written again (the output already reports them).
    pub(super) bad_again: u64,
    /// Why reading stopped before the end, if it did (not a stop asked for).
    pub(super) error: Option<String>,
}

/// Reads the input once, line by line, handing each on as workers free up; stops at once when
/// `stop` is cancelled (even while waiting for a FIFO's writer).
pub(super) async fn read_prompts(
    input: Input,
    skip: Written,
    tx: mpsc::Sender<Item>,
    stop: tokio_util::sync::CancellationToken,
) -> Read {
    let mut read = Read::default();
    let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if input.is_stdin() {
        Box::new(tokio::io::stdin())
    } else {
        let opened = tokio::select! {
            _ = stop.cancelled() => return read,
            opened = tokio::fs::File::open(&input.path) => opened,
        };
        match opened {
            Ok(f) => Box::new(f),
            Err(e) => {
                read.error = Some(format!("could not open {} ({})", input.path.display(), e.kind()));
                return read;
            }
        }
    };
    // Relative attachment paths are taken from the input file's directory.
    let base = match input.path.parent() {
        Some(dir) if !input.is_stdin() => std::path::absolute(dir).unwrap_or(dir.to_owned()),
        _ => PathBuf::new(),
    };
    let mut format = input.format;
    let mut lines = BufReader::new(reader);
    // A regular file's ids were checked before the run (`scan`); a stream's are checked here.
    let check_ids = input.total.is_none();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut n = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let got = tokio::select! {
            _ = stop.cancelled() => break,
            got = lines.read_until(b'\n', &mut buf) => got,
        };
        match got {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                read.error = Some(format!("reading {} failed ({})", input.path.display(), e.kind()));
                break;
            }
        }
        n += 1;
        let item = match std::str::from_utf8(&buf) {
            Err(_) => Err(BadLine { id: n.to_string(), line: n, message: format!("line {n} is not UTF-8 text") }),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => {
                let format = *format.get_or_insert_with(|| Format::by_first_line(line));
                parse_line(line, n, format).map(|p| p.expect("a non-blank line"))
            }
        };
        // A stream's repeated id (a file's is refused before the run) fails that line, unsent.
        let item = match item {
            Ok(p) if !check_ids => Ok(p),
            Ok(p) => match seen.insert(p.id.clone(), n) {
                Some(first) => Err(BadLine {
                    id: p.id.clone(),
                    line: n,
                    message: format!("line {n} repeats the id of line {first}: ids must be unique"),
                }),
                None => Ok(p),
            },
            Err(bad) => Err(bad),
        };
        let item = match item {
            Ok(p) if skip.answered.contains(&p.id) => {
                read.skipped += 1;
                Item::Skipped(p.id, n)
            }
            Ok(mut p) => {
                p.attachments = p.attachments.iter().map(|a| base.join(a)).collect();
                Item::Prompt(Box::new(p))
            }
            Err(bad) if skip.bad.contains(&bad.id) => {
                read.bad_again += 1;
                continue;
            }
            Err(bad) => Item::Bad(bad),
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            sent = tx.send(item) => if sent.is_err() { break },
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_line_is_a_prompt_whatever_it_starts_with() {
        let p = parse_line("  why is the sky blue?  ", 3, Format::Text).unwrap().unwrap();
        assert_eq!((p.id.as_str(), p.prompt.as_str()), ("3", "why is the sky blue?"));
        let p = parse_line(r#"{"x": 1} is JSON, explain"#, 2, Format::Text).unwrap().unwrap();
        assert_eq!(p.prompt, r#"{"x": 1} is JSON, explain"#);
        assert!(parse_line("   ", 1, Format::Text).unwrap().is_none());
    }

    #[test]
    fn a_json_line_is_a_prompt_object_and_a_bad_one_keeps_its_id() {
        let p = parse_line(r#"{"id": "a1", "prompt": "hi", "system": "terse", "model": "m"}"#, 1, Format::Json)
            .unwrap()
            .unwrap();
        assert_eq!((p.id.as_str(), p.system.as_deref(), p.model.as_deref()), ("a1", Some("terse"), Some("m")));
        assert_eq!(parse_line(r#"{"id": 7, "prompt": "x"}"#, 1, Format::Json).unwrap().unwrap().id, "7");
        let bad = parse_line("not json at all", 4, Format::Json).unwrap_err();
        assert_eq!((bad.id.as_str(), bad.line), ("4", 4));
        assert!(bad.message.contains("line 4"), "{bad:?}");
        let bad = parse_line(r#"{"id": "q9"}"#, 5, Format::Json).unwrap_err();
        assert_eq!(bad.id, "q9", "its own id");
        assert_eq!(parse_line(r#"{"id": "e", "prompt": "  "}"#, 6, Format::Json).unwrap_err().id, "e");
    }

    #[test]
    fn recorded_settings_are_taken_and_named_fields_win_over_them() {
        let p =
            parse_line(r#"{"prompt": "x", "settings": {"temperature": 0.5, "seed": 3}, "seed": 4}"#, 1, Format::Json)
                .unwrap()
                .unwrap();
        assert_eq!((p.settings.temperature, p.settings.seed), (Some(0.5), Some(4)));
    }

    #[test]
    fn every_setting_of_the_registry_is_a_field_of_a_line() {
        for spec in crate::chat::registry::SETTINGS {
            let mut expected = Settings::default();
            expected.set(spec.name, spec.example).unwrap();
            let stored = serde_json::to_value(&expected).unwrap();
            let line = serde_json::json!({"id": "s", "prompt": "x", spec.key: stored[spec.key]}).to_string();
            let p = parse_line(&line, 1, Format::Json).unwrap().unwrap();
            assert_eq!(p.settings, expected, "{line}");
        }
        // `batch --help` names every one.
        let command = <super::super::batch::BatchArgs as clap::Args>::augment_args(clap::Command::new("batch"));
        let input = command.get_arguments().find(|a| a.get_id() == "input").unwrap();
        let help = input.get_help().unwrap().to_string();
        for spec in crate::chat::registry::SETTINGS {
            assert!(help.contains(&format!("\"{}\"", spec.key)), "{} is not in {help}", spec.key);
        }
        // Old and typed spellings are accepted too; a value of the wrong kind keeps its line's id.
        let p = parse_line(r#"{"prompt": "x", "top-p": 0.5, "urlcontext": true}"#, 1, Format::Json).unwrap().unwrap();
        assert_eq!((p.settings.top_p, p.settings.url_context), (Some(0.5), Some(true)));
        let bad = parse_line(r#"{"id": "t", "prompt": "x", "temperature": "hot"}"#, 2, Format::Json).unwrap_err();
        assert_eq!(bad.id, "t");
        assert!(bad.message.starts_with("line 2: The temperature must be a number"), "{}", bad.message);
    }

    #[test]
    fn the_format_comes_from_the_name_else_the_first_line() {
        assert_eq!(Format::by_name(Path::new("p.jsonl")), Some(Format::Json));
        assert_eq!(Format::by_name(Path::new("p.TXT")), Some(Format::Text));
        assert_eq!(Format::by_name(Path::new("/dev/fd/63")), None);
        assert_eq!(Format::by_name(Path::new("-")), None);
        assert_eq!(Format::by_first_line(r#"  {"prompt": "x"}"#), Format::Json);
        assert_eq!(Format::by_first_line("hello"), Format::Text);
    }
}
