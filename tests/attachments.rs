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
    assert!(env.fake.requests().is_empty(), "nothing reached Gemini: {:?}", env.fake.requests());
    assert!(!db(&env).exists() || count(&env, "SELECT count(*) FROM messages") == 0, "nothing was saved");
}

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
