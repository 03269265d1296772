//! The limit for issue 22's concurrency table: a bare client that does only what the work is
//! (no geminal code): N streamed `streamGenerateContent?alt=sse` requests to a Gemini endpoint
//! (geminal's own `serve-fake` in scripts/bench-concurrency.sh), at most J at once, every chunk
//! read to the end. Its wall time, CPU and peak RSS are what any client must spend at least.
//!
//!   GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT GEMINI_API_KEY=k \
//!       cargo run --release --example limit_probe -- N [J]
//!
//! One thread drives every stream, as geminal's CLI does. Exits non-zero (one line on stderr) if
//! any stream did not answer 200 with a final chunk.

use std::process::ExitCode;

use futures::StreamExt;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let n = match args.next() {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        _ => return fail("usage: limit_probe [N requests] [J at once]"),
    };
    let jobs = match args.next() {
        None => n,
        Some(Ok(j)) if j > 0 => j,
        _ => return fail("usage: limit_probe [N requests] [J at once]"),
    };
    let Ok(base) = std::env::var("GOOGLE_GEMINI_BASE_URL") else {
        return fail("GOOGLE_GEMINI_BASE_URL is not set (the fake's URL).");
    };
    let key = std::env::var("GEMINI_API_KEY").unwrap_or_default();
    let model = std::env::var("GEMINAL_MODEL").unwrap_or_else(|_| "gemini-flash-latest".into());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("no runtime: {e}")),
    };
    let url = format!("{}/v1beta/models/{model}:streamGenerateContent?alt=sse", base.trim_end_matches('/'));
    match runtime.block_on(run(url, key, n, jobs)) {
        Ok((bytes, events)) => {
            eprintln!("{n} streams, {events} events, {bytes} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("limit_probe: {message}");
    ExitCode::FAILURE
}

async fn run(url: String, key: String, n: usize, jobs: usize) -> Result<(usize, usize), String> {
    let client = reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?;
    let streams = futures::stream::iter(0..n).map(|i| one(&client, &url, &key, i)).buffer_unordered(jobs);
    let results: Vec<Result<(usize, usize), String>> = streams.collect().await;
    let mut total = (0, 0);
    for result in results {
        let (bytes, events) = result?;
        total.0 += bytes;
        total.1 += events;
    }
    Ok(total)
}

/// One streamed answer, read to its end: (bytes, SSE events).
async fn one(client: &reqwest::Client, url: &str, key: &str, i: usize) -> Result<(usize, usize), String> {
    let body = serde_json::json!({ "contents": [{ "role": "user", "parts": [{ "text": format!("question {i}") }] }] });
    let response = client
        .post(url)
        .header("x-goog-api-key", key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("request {i}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("request {i}: HTTP {}", response.status()));
    }
    let mut chunks = response.bytes_stream();
    let (mut bytes, mut events, mut finished) = (0, 0, false);
    // The stream's last bytes before this chunk, so a marker split across chunks is still seen.
    let mut seen: Vec<u8> = Vec::with_capacity(64);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| format!("request {i}: {e}"))?;
        bytes += chunk.len();
        let carried = seen.len();
        seen.extend_from_slice(&chunk);
        // Only markers that end in this chunk: those wholly carried over were counted before.
        events += memchr::memmem::find_iter(&seen, b"data:").filter(|&at| at + 5 > carried).count();
        finished |= memchr::memmem::find(&seen, b"finishReason").is_some();
        let keep = seen.len().min(16);
        seen.drain(..seen.len() - keep);
    }
    if !finished {
        return Err(format!("request {i}: the stream ended without a final chunk"));
    }
    Ok((bytes, events))
}
