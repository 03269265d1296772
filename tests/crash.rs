//! Crash safety: `geminal ask` processes streaming from the fake are killed with SIGKILL at
//! random points. Afterwards the database passes `integrity_check`, every completed message is
//! intact, and every answer that was in flight is `interrupted` and a prefix of the answer,
//! missing at most about one save interval of what was already on screen.
//! Runs: 50 by default; set GEMINAL_CRASH_RUNS for more.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use geminal::store::Store;

const BATCH: usize = 5;
const CHUNKS: usize = 40;

fn answer() -> String {
    (0..400).map(|i| format!("word{i} ")).collect()
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_at_random_points_never_loses_committed_text() {
    let runs: usize = std::env::var("GEMINAL_CRASH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let answer = answer();
    let chunk_len = answer.len() / CHUNKS + 1;
    let fake = FakeGemini::start_in_thread(
        FakeOptions::default(),
        Behavior::text(answer.clone()).with_chunks(CHUNKS).with_chunk_delay(Duration::from_millis(25)),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut completed: HashMap<i64, String> = HashMap::new();
    let (mut interrupted_seen, mut complete_seen) = (0, 0);

    for batch in 0..runs.div_ceil(BATCH) {
        let mut children = Vec::new();
        for k in 0..BATCH.min(runs - batch * BATCH) {
            let run = batch * BATCH + k;
            let mut child = Command::new(env!("CARGO_BIN_EXE_geminal"))
                .args(["ask", "--no-cache", &format!("question {run}")])
                .env_clear()
                .env("HOME", dir.path())
                .env("GEMINAL_DB", &db)
                .env("GOOGLE_GEMINI_BASE_URL", fake.base_url())
                .env("GEMINI_API_KEY", "test-key")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let shown = Arc::new(Mutex::new(Vec::new()));
            let mut stdout = child.stdout.take().unwrap();
            let sink = shown.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
            let kill_after = Duration::from_millis(rng.below(1400));
            children.push((run, child, shown, kill_after));
        }
        let started = Instant::now();
        children.sort_by_key(|c| c.3);
        let mut shown_at_kill = HashMap::new();
        for (run, child, shown, kill_after) in &mut children {
            std::thread::sleep(kill_after.saturating_sub(started.elapsed()));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            shown_at_kill.insert(*run, String::from_utf8_lossy(&shown.lock().unwrap()).into_owned());
        }

        let (store, _) = Store::open(&db).unwrap();
        let conn = store.connection();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "after batch {batch}");
        let streaming: i64 =
            conn.query_row("SELECT count(*) FROM messages WHERE status = 'streaming'", [], |r| r.get(0)).unwrap();
        assert_eq!(streaming, 0, "every dead writer's answer was recovered");
        for (id, text) in &completed {
            let now: String = conn.query_row("SELECT text FROM messages WHERE id = ?1", [id], |r| r.get(0)).unwrap();
            assert_eq!(&now, text, "completed message {id} changed");
        }
        let mut stmt = conn
            .prepare("SELECT m.id, c.title, m.status, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'model'")
            .unwrap();
        let rows: Vec<(i64, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, title, status, text) in rows {
            match status.as_str() {
                "complete" => {
                    assert_eq!(text, answer, "{title}");
                    if completed.insert(id, text).is_none() {
                        complete_seen += 1;
                    }
                }
                "interrupted" => {
                    assert!(answer.starts_with(&text), "{title}: not a prefix: {text:?}");
                    let run: usize = title.trim_start_matches("question ").parse().unwrap();
                    if let Some(shown) = shown_at_kill.get(&run) {
                        interrupted_seen += 1;
                        assert!(answer.starts_with(shown.as_str()), "{title}: the screen showed {shown:?}");
                        // At most one save interval (150 ms = 6 chunks of 25 ms) plus slack for a loaded machine.
                        assert!(
                            text.len() + 12 * chunk_len >= shown.len(),
                            "{title}: saved {} bytes but {} were shown",
                            text.len(),
                            shown.len()
                        );
                    }
                }
                other => panic!("{title}: unexpected status {other}"),
            }
        }
    }
    eprintln!("{runs} runs: {complete_seen} answers completed, {interrupted_seen} interrupted and recovered");
    assert!(interrupted_seen > 0, "no kill landed mid-answer; the test proves nothing");
}
