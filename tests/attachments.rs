//! Attachments as a user sends them (`ask -a`, `batch` "attachments"), checked where they land:
//! the request the fake received (inline bytes, named text, uploaded files by URI), the upload
//! sessions it served, the history database, and what `history` shows.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::process::{Env, Run, finish};
use geminal::gemini::fake::{Behavior, RecordedRequest};
use geminal::gemini::{GenerateContentRequest, Part};
use sha2::{Digest, Sha256};

/// A real 1×1 PNG.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const MIB: usize = 1024 * 1024;

fn db(env: &Env) -> PathBuf {
    env.home.path().join("data/geminal/history.sqlite3")
}

fn write(env: &Env, name: &str, bytes: &[u8]) -> PathBuf {
    let path = env.home.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A PNG of `size` bytes: a real header, then filler that varies (so no chunk repeats another).
fn big_png(size: usize) -> Vec<u8> {
    let mut bytes = TINY_PNG[..33].to_vec();
    let mut x: u32 = 0x1234_5678;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size);
    bytes
}

fn generates(env: &Env) -> Vec<RecordedRequest> {
    env.fake.requests().into_iter().filter(|r| r.path.contains(":streamGenerateContent")).collect()
}

fn last_body(env: &Env) -> GenerateContentRequest {
    generates(env).last().unwrap().generate_request().unwrap()
}

fn user_parts(body: &GenerateContentRequest, index: usize) -> Vec<Part> {
    body.contents[index].parts.clone()
}

fn chunk_offsets(env: &Env) -> Vec<(String, u64)> {
    env.fake
        .requests()
        .iter()
        .filter(|r| r.path == "/upload/v1beta/files" && r.query.is_some())
        .map(|r| {
            let command = r.header("x-goog-upload-command").unwrap_or_default().to_owned();
            (command, r.header("x-goog-upload-offset").and_then(|o| o.parse().ok()).unwrap_or(u64::MAX))
        })
        .collect()
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_small_png_arrives_inline_with_its_type_and_exact_bytes_whatever_its_name() {
    let env = Env::new(Behavior::text("A red pixel."));
    // An extension that lies: the content decides.
    let png = write(&env, "pixel.txt", TINY_PNG);
    let run = env.run(&["ask", "-a", arg(&png), "what is this?"]);
    ok(&run);
    assert_eq!(run.stdout, "A red pixel.\n");
    let parts = user_parts(&last_body(&env), 0);
    assert_eq!(parts.len(), 2, "the image, then the prompt: {parts:?}");
    let blob = parts[0].inline_data.as_ref().expect("inline data");
    assert_eq!(blob.mime_type, "image/png");
    assert_eq!(blob.data, base64::engine::general_purpose::STANDARD.encode(TINY_PNG));
    assert_eq!(parts[1].text.as_deref(), Some("what is this?"));
    assert_eq!(env.fake.uploads_started(), 0, "nothing this small is uploaded");
}

#[test]
fn a_text_file_arrives_as_a_text_part_named_after_it_even_when_called_png() {
    let env = Env::new(Behavior::text("ok"));
    let notes = write(&env, "notes.png", "first line\nsecond, with é\n".as_bytes());
    ok(&env.run(&["ask", "-a", arg(&notes), "summarize"]));
    let parts = user_parts(&last_body(&env), 0);
    assert_eq!(parts[0].text.as_deref(), Some("--- notes.png ---\nfirst line\nsecond, with é\n"));
    assert!(parts[0].inline_data.is_none());
    assert_eq!(parts[1].text.as_deref(), Some("summarize"));
}

#[test]
fn stdin_can_be_the_attachment_with_the_prompt_in_the_arguments() {
    let env = Env::new(Behavior::text("ok"));
    let run = env.run_with_stdin_bytes(&["ask", "-a", "-", "what is this?"], TINY_PNG);
    ok(&run);
    let parts = user_parts(&last_body(&env), 0);
    assert_eq!(parts[0].inline_data.as_ref().unwrap().data, base64::engine::general_purpose::STANDARD.encode(TINY_PNG));
    assert_eq!(parts[1].text.as_deref(), Some("what is this?"));
    let run = env.run_with_stdin_bytes(&["ask", "-a", "-"], TINY_PNG);
    run.assert_failed(2, "give the prompt as an argument");
}

#[test]
fn bad_attachments_are_refused_in_one_sentence_before_anything_is_sent() {
    let env = Env::new(Behavior::text("ok"));
    let dir = env.home.path().join("src");
    std::fs::create_dir(&dir).unwrap();
    env.run(&["ask", "-a", arg(&dir), "review"]).assert_failed(2, "is a directory; attach the files inside instead");
    let missing = env.home.path().join("nope.pdf");
    env.run(&["ask", "-a", arg(&missing), "read"]).assert_failed(2, "there is no such file");
    let zip = write(&env, "archive.pdf", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x01");
    env.run(&["ask", "-a", arg(&zip), "read"]).assert_failed(2, "it holds ZIP data (application/zip)");
    // ZIP magic with neither a NUL byte nor invalid UTF-8 is still a ZIP, not text.
    let zip_text = write(&env, "notes.txt", b"PK\x03\x04\x14\x01\x02\x03 hello");
    env.run(&["ask", "-a", arg(&zip_text), "read"]).assert_failed(2, "it holds ZIP data (application/zip)");
    assert!(env.fake.requests().is_empty(), "nothing reached Gemini: {:?}", env.fake.requests());
    assert!(!db(&env).exists() || count(&env, "SELECT count(*) FROM messages") == 0, "nothing was saved");
}

/// A kept attachment: name, type, hash, bytes, path.
type KeptRow = (String, String, String, Option<Vec<u8>>, Option<String>);

fn count(env: &Env, sql: &str) -> i64 {
    rusqlite::Connection::open(db(env)).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_file_too_big_to_inline_is_uploaded_in_8_mib_chunks_and_sent_by_uri() {
    let env = Env::new(Behavior::text("A big picture."));
    let bytes = big_png(17 * MIB + 5);
    let path = write(&env, "big.png", &bytes);
    // A low inline limit stands in for Gemini's 20 MB one.
    let run = finish(env.command(&["ask", "-a", arg(&path), "describe"]).env("GEMINAL_INLINE_MAX_BYTES", "100000"));
    ok(&run);
    assert_eq!(env.fake.uploads_started(), 1);
    let files = env.fake.uploaded_files();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].size, files[0].mime.as_str()), (bytes.len() as u64, "image/png"));
    assert_eq!(files[0].sha256, sha256(&bytes), "the file arrived intact");
    assert_eq!(files[0].display_name.as_deref(), Some("big.png"));
    assert_eq!(
        chunk_offsets(&env),
        [("upload".into(), 0), ("upload".into(), 8 * MIB as u64), ("upload, finalize".into(), 16 * MIB as u64)]
    );
    let parts = user_parts(&last_body(&env), 0);
    let file = parts[0].file_data.as_ref().expect("file data");
    assert_eq!(file.mime_type, "image/png");
    assert!(file.file_uri.ends_with(&files[0].name), "{file:?}");
    assert!(parts.iter().all(|p| p.inline_data.is_none()));
}

#[test]
fn every_upload_request_carries_one_content_type_the_protocol_names() {
    // The fake refuses a repeated single-value header with a 400, as aiohttp and RFC 9110 do.
    let env = Env::new(Behavior::text("A big picture."));
    let path = write(&env, "big.png", &big_png(9 * MIB));
    let run = finish(env.command(&["ask", "-a", arg(&path), "describe"]).env("GEMINAL_INLINE_MAX_BYTES", "100000"));
    ok(&run);
    let requests = env.fake.requests();
    let uploads: Vec<&RecordedRequest> = requests.iter().filter(|r| r.path.starts_with("/upload/")).collect();
    assert_eq!(uploads.len(), 3, "start and two chunks");
    for request in &requests {
        let types: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .collect();
        let command = request.header("x-goog-upload-command").unwrap_or("");
        let expected: &[&str] = match (request.method.as_str(), command) {
            (_, "upload" | "upload, finalize") => &["application/octet-stream"],
            (_, "query") => &[],
            ("POST", _) => &["application/json"],
            _ => &[],
        };
        assert_eq!(types, expected, "{} {} ({command})", request.method, request.path);
    }
}

#[test]
fn a_real_file_over_the_20_mb_inline_limit_is_uploaded_with_the_default_settings() {
    let env = Env::new(Behavior::text("ok"));
    let bytes = big_png(21 * MIB);
    let path = write(&env, "photo.png", &bytes);
    let started = std::time::Instant::now();
    ok(&env.run(&["ask", "-a", arg(&path), "describe"]));
    eprintln!("a 21 MiB attachment: {:?}", started.elapsed());
    assert_eq!(env.fake.uploaded_files()[0].sha256, sha256(&bytes));
    let body = generates(&env).last().unwrap().body_len;
    assert!(body < 4096, "the request holds a reference, not the bytes: {body} bytes");
}

#[test]
fn an_upload_cut_midway_resumes_from_the_offset_the_server_reports() {
    let env = Env::new(Behavior::text("ok"));
    let bytes = big_png(17 * MIB);
    let path = write(&env, "cut.png", &bytes);
    // The second chunk breaks after 2 MiB of it have arrived.
    env.fake.cut_upload_at(10 * MIB as u64);
    let run = finish(
        env.command(&["ask", "--retries", "2", "-a", arg(&path), "describe"]).env("GEMINAL_INLINE_MAX_BYTES", "100000"),
    );
    ok(&run);
    assert_eq!(env.fake.uploads_started(), 1, "the same session goes on");
    assert_eq!(env.fake.uploaded_files()[0].sha256, sha256(&bytes), "the file arrived intact");
    // The rest goes from where the server says it got to, in one final chunk.
    assert_eq!(
        chunk_offsets(&env),
        [
            ("upload".into(), 0),
            ("upload".into(), 8 * MIB as u64),
            ("query".into(), u64::MAX),
            ("upload, finalize".into(), 10 * MIB as u64),
        ]
    );
    assert!(generates(&env).len() == 1 && user_parts(&last_body(&env), 0)[0].file_data.is_some());
}

#[test]
fn an_uploaded_file_is_reused_while_it_lives_and_uploaded_again_once_it_expired() {
    let env = Env::new(Behavior::text("ok"));
    let bytes = big_png(MIB);
    let path = write(&env, "reused.png", &bytes);
    let ask = |prompt: &str| {
        ok(&finish(env.command(&["ask", "-a", arg(&path), prompt]).env("GEMINAL_INLINE_MAX_BYTES", "100000")));
        user_parts(&last_body(&env), 0)[0].file_data.clone().expect("sent by uri").file_uri
    };
    let first = ask("one");
    assert_eq!(ask("two"), first, "the same copy");
    assert_eq!(env.fake.uploads_started(), 1, "no second upload within its lifetime");
    let conn = rusqlite::Connection::open(db(&env)).unwrap();
    let expires: i64 = conn.query_row("SELECT expires_at FROM attachment_uploads", [], |r| r.get(0)).unwrap();
    let in_47h =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 47 * 3_600_000;
    assert!(expires > in_47h, "the server's expirationTime (48 h) is kept: {expires}");
    conn.execute("UPDATE attachment_uploads SET expires_at = 1000", []).unwrap();
    let third = ask("three");
    assert_eq!(env.fake.uploads_started(), 2, "an expired copy is uploaded again");
    assert_ne!(third, first);
}

#[test]
fn history_keeps_attachments_shows_them_and_a_continued_conversation_sends_them_again() {
    let env = Env::new(Behavior::text("Seen."));
    let config = env.home.path().join("config/geminal/config.toml");
    // Bytes up to 100 are kept; the larger text file only by path and hash.
    std::fs::write(&config, "retries = 0\n[attachments]\nstore_max_bytes = 100\n").unwrap();
    let png = write(&env, "photo.png", TINY_PNG);
    let long_text = "a line of the report\n".repeat(20);
    let report = write(&env, "report.txt", long_text.as_bytes());
    ok(&env.run(&["ask", "-a", arg(&png), "-a", arg(&report), "compare them"]));

    let conn = rusqlite::Connection::open(db(&env)).unwrap();
    let rows: Vec<KeptRow> = conn
        .prepare(
            "SELECT ma.name, a.mime, a.sha256, a.data, a.path FROM message_attachments ma
             JOIN attachments a USING (sha256) ORDER BY ma.position",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("photo.png", "image/png"));
    assert_eq!((rows[0].2.clone(), rows[0].3.clone()), (sha256(TINY_PNG), Some(TINY_PNG.to_vec())));
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("report.txt", "text/plain"));
    assert_eq!(rows[1].3, None, "over the cap: not kept");
    assert_eq!(rows[1].4.as_deref(), Some(arg(&report)), "its path is");

    let shown = env.run(&["history", "show", "1"]);
    ok(&shown);
    assert_eq!(TINY_PNG.len(), 70);
    assert!(shown.stdout.contains("📎 photo.png · 70 B\n📎 report.txt · 420 B\ncompare them"), "{}", shown.stdout);
    let exported = env.run(&["history", "export", "1", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    assert_eq!(
        json["messages"][0]["attachments"],
        serde_json::json!([
            { "name": "photo.png", "mime_type": "image/png", "size": 70, "sha256": sha256(TINY_PNG) },
            { "name": "report.txt", "mime_type": "text/plain", "size": 420, "sha256": sha256(long_text.as_bytes()) },
        ])
    );

    // Continued: the first prompt goes again with both (the text read again from its path).
    std::fs::remove_file(&png).unwrap();
    ok(&env.run(&["ask", "-c", "and now?"]));
    let body = last_body(&env);
    assert_eq!(body.contents.len(), 3);
    let first = user_parts(&body, 0);
    assert_eq!(first[0].inline_data.as_ref().unwrap().data, base64::engine::general_purpose::STANDARD.encode(TINY_PNG));
    assert_eq!(first[1].text.as_deref(), Some(format!("--- report.txt ---\n{long_text}").as_str()));
    assert_eq!(first[2].text.as_deref(), Some("compare them"));
    assert_eq!(user_parts(&body, 2).len(), 1, "the new prompt has none of its own");

    // The file kept only by path changed: the conversation cannot go on with it, and says which.
    std::fs::write(&report, "something else").unwrap();
    let before = generates(&env).len();
    env.run(&["ask", "-c", "and then?"])
        .assert_failed(2, "The attachment report.txt of this conversation is no longer available");
    assert_eq!(generates(&env).len(), before, "nothing was sent");
}

#[test]
fn the_same_prompt_with_another_image_is_asked_again_not_answered_from_the_cache() {
    let env = Env::new(Behavior::text("ok"));
    let a = write(&env, "a.png", TINY_PNG);
    let mut other = TINY_PNG.to_vec();
    other[60] ^= 1;
    let b = write(&env, "b.png", &other);
    ok(&env.run(&["ask", "-a", arg(&a), "what is it?"]));
    ok(&env.run(&["ask", "-a", arg(&b), "what is it?"]));
    assert_eq!(generates(&env).len(), 2, "another image is another question");
    let again = env.run(&["ask", "-a", arg(&a), "what is it?"]);
    ok(&again);
    assert_eq!(generates(&env).len(), 2, "the same image and prompt: from the cache");
}

#[test]
fn a_video_still_processing_is_waited_for_before_the_question_is_sent() {
    let env = Env::new(Behavior::text("A short clip."));
    env.fake.set_processing_polls(2);
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    mp4.resize(300_000, 7);
    let path = write(&env, "clip.mp4", &mp4);
    ok(&finish(env.command(&["ask", "-a", arg(&path), "what happens?"]).env("GEMINAL_INLINE_MAX_BYTES", "100000")));
    let requests = env.fake.requests();
    let polls: Vec<usize> =
        requests.iter().enumerate().filter(|(_, r)| r.path.starts_with("/v1beta/files/")).map(|(i, _)| i).collect();
    let generate = requests.iter().position(|r| r.path.contains(":streamGenerateContent")).unwrap();
    assert_eq!(polls.len(), 2, "polled until ACTIVE");
    assert!(polls.iter().all(|p| *p < generate), "asked only once the file was ready");
    assert_eq!(user_parts(&last_body(&env), 0)[0].file_data.as_ref().unwrap().mime_type, "video/mp4");
}

#[test]
fn batch_lines_attach_files_relative_to_the_input_file() {
    let env = Env::new(Behavior::text("ok"));
    let dir = env.home.path().join("job");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("pixel.png"), TINY_PNG).unwrap();
    let input = dir.join("prompts.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"p\", \"prompt\": \"what is it?\", \"attachments\": [\"pixel.png\"]}\n{\"id\": \"q\", \"prompt\": \"and this?\", \"attachments\": [\"missing.png\"]}\n",
    )
    .unwrap();
    let run = env.run(&["batch", arg(&input), "-j", "1"]);
    assert_eq!(run.code, 10, "{run:?}");
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let line = |id: &str| lines.iter().find(|l| l["id"] == id).unwrap().clone();
    assert_eq!(line("p")["error"], serde_json::Value::Null);
    assert_eq!(line("q")["error"]["kind"], "bad_input");
    assert!(line("q")["error"]["message"].as_str().unwrap().contains("missing.png: there is no such file"));
    assert_eq!(generates(&env).len(), 1, "the bad line was never sent");
    let parts = user_parts(&last_body(&env), 0);
    assert_eq!(parts[0].inline_data.as_ref().unwrap().mime_type, "image/png");
}

#[test]
fn the_inline_limit_keeps_requests_under_the_size_gemini_refuses() {
    let env = Env::new(Behavior::text("ok"));
    // 15 MiB is under Gemini's 20 MB, but not once in base64.
    let bytes = big_png(15 * MIB);
    let path = write(&env, "scan.png", &bytes);
    let run = finish(env.command(&["ask", "-a", arg(&path), "read it"]).env("GEMINAL_INLINE_MAX_BYTES", "40000000"));
    run.assert_failed(5, "Request payload size exceeds the limit");
    ok(&env.run(&["ask", "-a", arg(&path), "read it"]));
    assert_eq!(env.fake.uploaded_files().len(), 1, "with the real limit it is uploaded instead");
    assert!(generates(&env).last().unwrap().body_len < 4096);
}

#[test]
fn the_demo_answers_a_question_about_a_picture_by_what_it_was_sent() {
    let env = Env::new(Behavior { answer: geminal::gemini::fake::Answer::Demo, ..Behavior::default() });
    let png = write(&env, "pixel.png", TINY_PNG);
    let run = env.run(&["ask", "-a", arg(&png), "what is this?"]);
    ok(&run);
    assert!(run.stdout.contains("I was given **an image** with your question, “what is this?”."), "{}", run.stdout);
    assert!(run.stdout.contains("| 1 | image/png | 70 B |"), "{}", run.stdout);
}

#[cfg(unix)]
#[test]
fn devices_are_refused_at_once_and_a_fifo_is_read_without_waiting_forever() {
    let env = Env::new(Behavior::text("ok"));
    for device in ["/dev/zero", "/dev/urandom"] {
        let started = std::time::Instant::now();
        env.run(&["ask", "-a", device, "read"]).assert_failed(2, "it is a device, not a file");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "refused before reading: {:?}",
            started.elapsed()
        );
    }
    let fifo = env.home.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Nobody writes to it: refused after the wait, not hung (the test helper kills a hung run).
    env.run(&["ask", "-a", arg(&fifo), "read"]).assert_failed(2, "no program wrote to this pipe");
    assert!(env.fake.requests().is_empty(), "nothing was sent: {:?}", env.fake.requests());
    // A writer that comes a moment later is read to its end.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::write(&fifo, "piped words").unwrap();
        })
    };
    let run = env.run(&["ask", "-a", arg(&fifo), "read"]);
    writer.join().unwrap();
    ok(&run);
    assert!(serde_json::to_string(&last_body(&env)).unwrap().contains("piped words"), "{:?}", last_body(&env));
}

/// `-a -` reads stdin as any pipe: at most 20 MiB, then refused in one sentence with nothing
/// sent (an endless stdin was read up to 2 GiB into memory first).
#[test]
fn an_endless_stdin_attachment_is_refused_after_the_pipe_limit() {
    let env = Env::new(Behavior::text("ok"));
    let child = env
        .command(&["ask", "-a", "-", "what is this?"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = common::process::wait_bounded(child);
    run.assert_failed(2, "a pipe may give at most 20 MiB");
    assert!(env.generate_requests().is_empty(), "nothing was sent");
}
