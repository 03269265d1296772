//! Tool steps in `ask` and the line chat: one line each on stderr (never stdout, which holds
//! only the answer), arguments and results escaped and cut; and the terminal's approver, which
//! asks "Run fs.write_file {...}? [y/N/a/q]" on stderr and reads the answer from the terminal
//! (`a`: always for this tool in this run, `q`: stop the turn). With no terminal to ask there is
//! no approver: an untrusted call is refused, the model is told, and the line names the flag.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::tools::{Approval, Approver, PendingCall, ToolFailure, ToolStep};

/// Arguments shown at most this long (characters).
const ARGUMENTS_SHOWN: usize = 120;

/// Remembers each call's server and tool, to name them when the result comes.
#[derive(Debug, Default)]
pub struct StepLines {
    calls: HashMap<String, String>,
}

impl StepLines {
    /// The stderr line for `step` (without the `geminal: ` prefix).
    pub fn line(&mut self, step: &ToolStep) -> String {
        match step {
            ToolStep::Called { id, server, tool, arguments } => {
                let name = called(server, tool);
                self.calls.insert(id.clone(), name.clone());
                format!("tool call {name} {}", crate::sanitize::one_line(&arguments.to_string(), ARGUMENTS_SHOWN))
            }
            ToolStep::Returned { id, result } => {
                let name = self.calls.get(id).cloned().unwrap_or_else(|| crate::sanitize::one_line(id, 40));
                match result {
                    Ok(output) => {
                        let size = crate::format::bytes(output.content.to_string().len() as u64);
                        let mut line = match output.is_error {
                            true => format!("tool {name} answered with an error ({size})"),
                            false => format!("tool {name} ok ({size})"),
                        };
                        if output.truncated {
                            line.push_str(", cut to the size limit");
                        }
                        line
                    }
                    Err(failure) => format!("tool {name} {}", failure_words(failure)),
                }
            }
            ToolStep::Round { round, max } => format!("tool results sent back (round {round} of at most {max})"),
            ToolStep::StepLimit { max } => {
                format!("the model used its {max} tool rounds (max_tool_steps): it was asked to answer without tools")
            }
            ToolStep::Unavailable { servers } => unavailable_words(servers),
        }
    }
}

/// Servers left out of a turn, in one sentence: each with why, then that the others' tools go on.
fn unavailable_words(servers: &[crate::tools::ListError]) -> String {
    let each: Vec<String> = servers
        .iter()
        .map(|e| match e {
            crate::tools::ListError::ServerStopped { server, last_stderr } => {
                let server = crate::sanitize::one_line(server, 40);
                match last_stderr.as_deref().map(|l| crate::sanitize::one_line(l, 120)).filter(|l| !l.is_empty()) {
                    Some(line) => format!("{server} ({line})"),
                    None => server,
                }
            }
            crate::tools::ListError::UnknownServer(name) => crate::sanitize::one_line(name, 40),
        })
        .collect();
    let (noun, its) = if each.len() == 1 { ("server", "its") } else { ("servers", "their") };
    format!("MCP {noun} {} did not start: this turn goes on without {its} tools", each.join(", "))
}

fn called(server: &str, tool: &str) -> String {
    let (server, tool) = (crate::sanitize::one_line(server, 40), crate::sanitize::one_line(tool, 64));
    if server.is_empty() { tool } else { format!("{server}.{tool}") }
}

/// A failed call in words (the model is told separately).
fn failure_words(failure: &ToolFailure) -> String {
    match failure {
        ToolFailure::Refused { needs_flag: true } => {
            "was refused: it needs approval and no one can be asked here; --approve-tools would run it".to_owned()
        }
        ToolFailure::Refused { needs_flag: false } => "was refused".to_owned(),
        ToolFailure::UnknownTool(_) => "is not offered: the model was told".to_owned(),
        ToolFailure::ServerStopped { server, last_stderr } => {
            let server = crate::sanitize::one_line(server, 40);
            match last_stderr.as_deref().map(|l| crate::sanitize::one_line(l, 120)).filter(|l| !l.is_empty()) {
                Some(line) => format!("failed: server {server} stopped: {line}"),
                None => format!("failed: server {server} stopped"),
            }
        }
        ToolFailure::TimedOut(secs) => format!("timed out after {secs} s"),
        ToolFailure::Cancelled => "was cancelled".to_owned(),
        ToolFailure::Failed(message) => format!("failed: {}", crate::sanitize::one_line(message, 160)),
    }
}

/// One answer to the question, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Always,
    Quit,
}

/// Reads a typed answer: `y`, `a`, `q`; anything else (Enter included) is no.
pub fn parse_answer(line: &str) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "a" | "always" => Answer::Always,
        "q" | "quit" => Answer::Quit,
        _ => Answer::No,
    }
}

/// Reads one answer line after asking the question (`None`: no more input).
pub type ReadAnswer = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Asks on the terminal (stderr for the question, the terminal for the answer).
pub struct TerminalApprover {
    /// Tools the user allowed for the rest of this run.
    always: Mutex<HashSet<String>>,
    /// Reads one answer line (the terminal; a test's script).
    read: ReadAnswer,
}

impl TerminalApprover {
    pub fn new(read: ReadAnswer) -> Self {
        TerminalApprover { always: Mutex::default(), read }
    }
}

/// The terminal's approver when there is someone to ask: stderr is a terminal, and so is stdin
/// or /dev/tty. `None` on a pipe.
pub fn terminal_approver() -> Option<Arc<dyn Approver>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let tty_in = std::io::stdin().is_terminal();
    if !tty_in && std::fs::File::open("/dev/tty").is_err() {
        return None;
    }
    let read = move |question: &str| -> Option<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "geminal: {question} ");
        let _ = err.flush();
        let mut line = String::new();
        let read = if tty_in {
            std::io::stdin().lock().read_line(&mut line)
        } else {
            std::io::BufReader::new(std::fs::File::open("/dev/tty").ok()?).read_line(&mut line)
        };
        read.ok().filter(|n| *n > 0).map(|_| line)
    };
    Some(Arc::new(TerminalApprover::new(Arc::new(read))))
}

impl Approver for TerminalApprover {
    fn approve<'a>(&'a self, _turn: u64, _conversation: i64, calls: &'a [PendingCall]) -> BoxFuture<'a, Vec<Approval>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(calls.len());
            for call in calls {
                if out.last() == Some(&Approval::Stop) {
                    out.push(Approval::Stop);
                    continue;
                }
                if self.always.lock().is_ok_and(|a| a.contains(&call.tool)) {
                    out.push(Approval::Run);
                    continue;
                }
                let question = format!(
                    "Run {} {}? [y/N/a/q]",
                    called(&call.server, &call.tool),
                    crate::sanitize::one_line(&call.arguments.to_string(), ARGUMENTS_SHOWN)
                );
                let read = self.read.clone();
                // The terminal is read off the runtime's threads.
                let line = tokio::task::spawn_blocking(move || read(&question)).await.ok().flatten();
                // End of input: no one is there to say yes.
                let answer = line.as_deref().map_or(Answer::No, parse_answer);
                out.push(match answer {
                    Answer::Yes => Approval::Run,
                    Answer::No => Approval::Refuse,
                    Answer::Always => {
                        if let Ok(mut always) = self.always.lock() {
                            always.insert(call.tool.clone());
                        }
                        Approval::Run
                    }
                    Answer::Quit => Approval::Stop,
                });
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::ToolOutput;
    use serde_json::json;

    #[test]
    fn a_call_and_its_result_are_one_escaped_line_each() {
        let mut lines = StepLines::default();
        let call = ToolStep::Called {
            id: "c1".into(),
            server: "fs".into(),
            tool: "write_file".into(),
            arguments: json!({"path": "a\u{1b}[31mred", "text": "x".repeat(500)}),
        };
        let line = lines.line(&call);
        assert!(line.starts_with("tool call fs.write_file {"), "{line}");
        assert!(!line.contains('\u{1b}'), "escaped: {line:?}");
        assert!(line.chars().count() < 200, "cut: {line}");
        let ok = ToolStep::Returned {
            id: "c1".into(),
            result: Ok(ToolOutput {
                content: json!({"ok": true}),
                media: Vec::new(),
                is_error: false,
                truncated: true,
            }),
        };
        assert_eq!(lines.line(&ok), "tool fs.write_file ok (11 B), cut to the size limit");
        let refused = ToolStep::Returned { id: "c1".into(), result: Err(ToolFailure::Refused { needs_flag: true }) };
        assert!(lines.line(&refused).ends_with("--approve-tools would run it"));
        let failed = ToolStep::Returned { id: "c1".into(), result: Err(ToolFailure::Failed("bad\nthing\u{7}".into())) };
        let line = lines.line(&failed);
        assert!(!line.contains('\n') && !line.contains('\u{7}'), "{line:?}");
    }

    #[test]
    fn answers_are_y_n_a_q_and_anything_else_is_no() {
        assert_eq!(parse_answer("y\n"), Answer::Yes);
        assert_eq!(parse_answer("A"), Answer::Always);
        assert_eq!(parse_answer("q"), Answer::Quit);
        assert_eq!(parse_answer("\n"), Answer::No);
        assert_eq!(parse_answer("yy"), Answer::No);
    }

    #[tokio::test]
    async fn always_holds_for_the_tool_in_this_run_and_quit_stops_the_rest() {
        let asked = Arc::new(Mutex::new(Vec::<String>::new()));
        let script = Arc::new(Mutex::new(vec!["a".to_owned(), "n".to_owned(), "q".to_owned()]));
        let (log, answers) = (asked.clone(), script.clone());
        let approver = TerminalApprover::new(Arc::new(move |q: &str| {
            log.lock().unwrap().push(q.to_owned());
            let mut a = answers.lock().unwrap();
            (!a.is_empty()).then(|| a.remove(0))
        }));
        let call = |tool: &str| PendingCall {
            id: tool.into(),
            server: "fs".into(),
            tool: tool.into(),
            arguments: json!({"p": 1}),
        };
        let calls = [call("write"), call("write"), call("delete"), call("move"), call("copy")];
        let answers = approver.approve(1, 1, &calls).await;
        assert_eq!(
            answers,
            [Approval::Run, Approval::Run, Approval::Refuse, Approval::Stop, Approval::Stop],
            "the second write was not asked"
        );
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 3);
        assert_eq!(asked[0], r#"Run fs.write {"p":1}? [y/N/a/q]"#);
    }
}
