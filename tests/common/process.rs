//! Running `geminal` as a process against an in-process fake, with a private home directory.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};

pub const KEY: &str = "AIzaCLI-test-Secret-987654321";

pub struct Env {
    pub fake: FakeGemini,
    pub home: tempfile::TempDir,
}

impl Env {
    /// A fake serving `default`, and a home whose config turns retries off (tests of
    /// retries ask for them with `--retries N`).
    pub fn new(default: Behavior) -> Env {
        Env::with_options(FakeOptions::default(), default)
    }

    /// [`Env::new`] with a fake of its own options (a model list, a key...).
    pub fn with_options(options: FakeOptions, default: Behavior) -> Env {
        let home = tempfile::tempdir().unwrap();
        let config_dir = home.path().join("config/geminal");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::write(config_dir.join("config.toml"), "retries = 0\n").unwrap();
        Env { fake: FakeGemini::start_in_thread(options, default).unwrap(), home }
    }

    /// The config directory (`config.toml` and `roles/` live there).
    /// The generate requests the fake received (streamed or not), oldest first.
    pub fn generate_requests(&self) -> Vec<geminal::gemini::fake::RecordedRequest> {
        self.fake.requests().into_iter().filter(|r| r.path.contains("enerateContent")).collect()
    }

    /// The JSON body of the last generate request, as it went over the wire.
    pub fn last_body(&self) -> serde_json::Value {
        let request = self.generate_requests().pop().expect("a generate request");
        serde_json::from_str(&request.body).unwrap()
    }

    /// The history database at its default place, opened read-only.
    pub fn history(&self) -> rusqlite::Connection {
        let path = self.home.path().join("data/geminal/history.sqlite3");
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
    }

    pub fn config_dir(&self) -> std::path::PathBuf {
        self.home.path().join("config/geminal")
    }

    /// Adds `text` to the config file (which turns retries off).
    pub fn add_config(&self, text: &str) {
        let path = self.config_dir().join("config.toml");
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, format!("{before}{text}")).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geminal"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("GOOGLE_GEMINI_BASE_URL", self.fake.base_url())
            .env("GEMINI_API_KEY", KEY)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        finish(&mut self.command(args))
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        self.run_with_stdin_bytes(args, input.as_bytes())
    }

    pub fn run_with_stdin_bytes(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        wait_bounded(child)
    }
}

impl Env {
    /// Runs `geminal ARGS` with stdout on a terminal (a pty made by util-linux `script`) and
    /// stderr discarded; `None` when `script` is not installed (unless GEMINAL_E2E_REQUIRE is
    /// set, which makes that a failure). The pty turns each `\n` into `\r\n`.
    pub fn run_in_terminal(&self, args: &[&str]) -> Option<Run> {
        self.run_command_in_terminal(&self.command(args))
    }

    /// [`Env::run_in_terminal`] for a command made by [`Env::command`] (with its own variables).
    pub fn run_command_in_terminal(&self, base: &Command) -> Option<Run> {
        if Command::new("script").arg("--version").output().is_err() {
            assert!(std::env::var("GEMINAL_E2E_REQUIRE").is_err(), "script (util-linux) is required for this test");
            eprintln!("skipped: script (util-linux) is not installed");
            return None;
        }
        let line = std::iter::once(base.get_program())
            .chain(base.get_args())
            .map(|a| format!("'{}'", a.to_str().unwrap().replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("{line} 2>/dev/null"), "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in base.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        Some(finish(&mut cmd))
    }
}

/// Runs a command to completion, killing it if it hangs (a hung child must fail the test,
/// not the whole CI run).
pub fn finish(cmd: &mut Command) -> Run {
    wait_bounded(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
}

pub fn wait_bounded(child: std::process::Child) -> Run {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => Run::from(output.unwrap()),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let run = rx.recv().map(|o| Run::from(o.unwrap()));
            panic!("geminal hung and was killed: {run:?}");
        }
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

impl Run {
    /// Asserts a failure: the code, exactly one stderr line naming it, and no key anywhere.
    #[track_caller]
    pub fn assert_failed(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one stderr line expected: {self:?}");
        assert!(lines[0].starts_with("geminal: ") && lines[0].contains(needle), "{self:?}");
        assert!(!lines[0].contains('{') && !lines[0].contains("panicked"), "{self:?}");
        self.assert_no_key();
    }

    #[track_caller]
    pub fn assert_no_key(&self) {
        assert!(!self.stdout.contains(KEY) && !self.stderr.contains(KEY), "key leaked: {self:?}");
    }
}

/// Waits until process `pid` has a handler for signal number `signum` (Linux: its `SigCgt`
/// mask in /proc), so that a signal sent next is handled rather than fatal however slow the
/// machine is. Where /proc cannot tell, it waits a second.
#[allow(dead_code)]
pub fn wait_until_catching(pid: u32, signum: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            std::thread::sleep(Duration::from_secs(1));
            return;
        };
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (signum - 1)) != 0);
        if caught {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that the run exited 0, showing all of it if not.
#[track_caller]
pub fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
}
