//! Google Search grounding and URL context, end to end against the fake: the tools the model
//! RECEIVED (top-level `tools`), the answer's markers and sources on stdout, what is STORED (the
//! text without markers, the sources beside it), what the next turn sends back, history and
//! export, batch lines, the cache left alone, hostile offsets, and the recorded transcript C.

mod common;

use common::process::{Env, finish, ok};
use geminal::gemini::fake::Behavior;
use serde_json::{Value, json};

const ANSWER: &str = "Birds migrate to find food. They return in spring.";

#[test]
fn the_model_receives_search_and_url_context_as_top_level_tools() {
    let env = Env::new(Behavior::text("ok"));
    ok(&env.run(&["ask", "--search", "q1"]));
    assert_eq!(env.last_body()["tools"], json!([{"googleSearch": {}}]));
    assert!(env.last_body().get("generationConfig").is_none(), "tools are not generation settings");
    ok(&env.run(&["ask", "--url-context", "q2 https://example.com"]));
    assert_eq!(env.last_body()["tools"], json!([{"urlContext": {}}]));
    ok(&env.run(&["--search", "ask", "--url-context", "--temperature", "0.3", "q3"]));
    let body = env.last_body();
    assert_eq!(body["tools"], json!([{"googleSearch": {}}, {"urlContext": {}}]));
    assert_eq!(body["generationConfig"], json!({"temperature": 0.3}));
    ok(&env.run(&["ask", "q4"]));
    assert!(env.last_body().get("tools").is_none(), "no tools unless asked: {}", env.last_body());
    // A continued conversation keeps them (stored with it); --no-search turns search off.
    ok(&env.run(&["ask", "--search", "first"]));
    ok(&env.run(&["ask", "-c", "second"]));
    assert_eq!(env.last_body()["tools"], json!([{"googleSearch": {}}]));
    ok(&env.run(&["ask", "-c", "--no-search", "third"]));
    assert!(env.last_body().get("tools").is_none());
    // The config file's key.
    let config = env.home.path().join("config/geminal/config.toml");
    std::fs::write(&config, "retries = 0\nsearch = true\nurl_context = true\n").unwrap();
    ok(&env.run(&["ask", "q5"]));
    assert_eq!(env.last_body()["tools"], json!([{"googleSearch": {}}, {"urlContext": {}}]));
    let shown = env.run(&["config", "show"]).stdout;
    assert!(shown.lines().any(|l| l.starts_with("search ") && l.contains("true")), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("url_context ") && l.contains("true")), "{shown}");
}

#[test]
fn an_answer_on_a_pipe_has_markers_where_the_supports_end_and_numbered_sources() {
    let env = Env::new(Behavior::text(ANSWER));
    let run = env.run(&["ask", "--search", "why do birds migrate?"]);
    ok(&run);
    let lines: Vec<&str> = run.stdout.lines().collect();
    // The fake supports the first sentence with source 0 and the last with sources 1 and 2.
    assert_eq!(lines[0], "Birds migrate to find food.[1] They return in spring.[2][3]");
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], "Sources:");
    for (n, line) in lines[3..6].iter().enumerate() {
        assert!(line.starts_with(&format!("[{}] ", n + 1)), "{line}");
        assert!(line.contains(" — https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake-"), "{line}");
    }
    assert_eq!(lines[6], "Searched: \"why do birds migrate?\"");
    assert_eq!(lines.len(), 7, "{}", run.stdout);
}

#[test]
fn markers_in_multi_byte_text_land_after_the_right_character() {
    let env = Env::new(Behavior::text("Zürich liegt am Zürichsee. 東京は日本の首都です。"));
    let run = env.run(&["ask", "--search", "Städte?"]);
    ok(&run);
    assert_eq!(run.stdout.lines().next().unwrap(), "Zürich liegt am Zürichsee.[1] 東京は日本の首都です。[2][3]");
}

/// One SSE event per item (CRLF framing, as Google sends).
fn sse(events: &[Value]) -> Vec<u8> {
    events.iter().map(|e| format!("data: {e}\r\n\r\n")).collect::<String>().into_bytes()
}

#[test]
fn bad_offsets_and_malformed_metadata_never_cost_the_answer() {
    let text = "Zürich 東京 answer.";
    let final_chunk = |grounding: Value| {
        json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0,
               "groundingMetadata": grounding}]})
    };
    let first = json!({"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}]});
    let odd = json!({
        "groundingChunks": [{"web": {"uri": "https://a.example/\u{1b}]52;c;aGk=\u{7}", "title": "A\u{1b}[2J title\nsecond line"}}, {"web": {}}],
        "groundingSupports": [
            {"segment": {"startIndex": 2, "endIndex": 2}, "groundingChunkIndices": [0]},
            {"segment": {"startIndex": 9000, "endIndex": 99999}, "groundingChunkIndices": [0, 7]},
            {"segment": {"startIndex": -4, "endIndex": -1}, "groundingChunkIndices": [0]},
            {"segment": {"endIndex": 9}, "groundingChunkIndices": [-1, 1]},
            {"groundingChunkIndices": [0]}
        ]
    });
    let env = Env::new(Behavior::raw(sse(&[first.clone(), final_chunk(odd)])));
    let run = env.run(&["ask", "--search", "q"]);
    ok(&run);
    let answer = run.stdout.lines().next().unwrap();
    assert_eq!(answer.replace("[1]", "").replace("[2]", ""), text, "the answer is whole: {answer}");
    assert!(answer.starts_with("Zü[1]") && answer.ends_with("answer.[1]"), "{answer}");
    assert!(answer.contains("東[2]"), "an offset inside a character moves to its end: {answer}");
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'), "sanitized: {:?}", run.stdout);
    assert!(run.stdout.contains("[1] A␛[2J title second line — https://a.example/␛]52;c;aGk=␇"), "{}", run.stdout);
    // Metadata of the wrong shape is dropped; the answer stays.
    env.fake.set_default(Behavior::raw(sse(&[first, final_chunk(json!({"groundingChunks": "nope"}))])));
    let run = env.run(&["ask", "--search", "q again"]);
    ok(&run);
    assert_eq!(run.stdout, format!("{text}\n"));
}

#[test]
fn the_recorded_grounding_transcript_plays_through_ask() {
    // Transcript C of the wire reference: CRLF, grounding in the last chunk, whose only part is
    // an empty text with a thought signature.
    let env = Env::new(Behavior::raw(&include_bytes!("data/captures/c_crlf_grounding.sse")[..]));
    let run = env.run(&["ask", "--search", "current node version?"]);
    ok(&run);
    assert_eq!(
        run.stdout,
        "As of July 2026, the current stable Long-Term Support (LTS) version of Node.js is **v24.18.0**, while the \
         latest \"Current\" feature release is **v26.5.0**.[1]\n\nSources:\n[1] nodejs.org — \
         https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQGm7vT2q9x0bLrWcE4nD8sKfP1yJhA\n\
         Searched: \"Node js current LTS version\"\n"
    );
}

#[test]
fn stored_text_and_the_next_turns_history_hold_no_markers() {
    let env = Env::new(Behavior::text(ANSWER));
    ok(&env.run(&["ask", "--search", "why do birds migrate?"]));
    let (text, grounding): (String, String) = env
        .history()
        .query_row("SELECT text, grounding FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(text, ANSWER, "the stored answer is as the model wrote it");
    let grounding: Value = serde_json::from_str(&grounding).unwrap();
    assert_eq!(grounding["sources"].as_array().unwrap().len(), 3);
    assert_eq!(grounding["citations"][0]["end"], json!("Birds migrate to find food.".len()));
    ok(&env.run(&["ask", "-c", "and then?"]));
    let body = env.last_body();
    assert_eq!(body["contents"][1], json!({"role": "model", "parts": [{"text": ANSWER}]}));
    assert!(!body.to_string().contains("[1]"), "{body}");
}

#[test]
fn history_show_and_export_carry_the_sources() {
    let env = Env::new(Behavior::text(ANSWER));
    ok(&env.run(&["ask", "--search", "why do birds migrate?"]));
    let show = env.run(&["history", "show", "1"]).stdout;
    assert!(show.contains("Birds migrate to find food.[1] They return in spring.[2][3]\n\nSources:\n[1] "), "{show}");
    let export: Value = serde_json::from_str(&env.run(&["history", "export", "1", "--format", "json"]).stdout).unwrap();
    let answer = &export["messages"][1];
    assert_eq!(answer["text"], ANSWER);
    assert_eq!(answer["sources"].as_array().unwrap().len(), 3);
    assert_eq!(answer["sources"][0]["n"], 1);
    assert!(answer["sources"][0]["uri"].as_str().unwrap().starts_with("https://vertexaisearch"));
    assert_eq!(answer["citations"][1]["sources"], json!([2, 3]));
    assert_eq!(answer["search_queries"], json!(["why do birds migrate?"]));
    assert!(export["messages"][0].get("sources").is_none(), "a prompt has no sources");
    let md = env.run(&["history", "export", "1", "--format", "md"]).stdout;
    assert!(md.contains("They return in spring.[2][3]\n\n**Sources**\n\n1. ["), "{md}");
    assert!(md.contains("](<https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake-"), "{md}");
}

#[test]
fn batch_lines_ask_for_search_and_carry_sources() {
    let env = Env::new(Behavior::text(ANSWER));
    let input = env.home.path().join("prompts.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"s\", \"prompt\": \"searched\", \"search\": true}\n{\"id\": \"p\", \"prompt\": \"plain\"}\n",
    )
    .unwrap();
    let run = env.run(&["batch", input.to_str().unwrap()]);
    ok(&run);
    let body_for = |prompt: &str| {
        // The latest request with this prompt.
        let request = env.generate_requests().into_iter().rev().find(|r| r.prompt() == prompt).unwrap();
        serde_json::from_str::<Value>(&request.body).unwrap()
    };
    assert_eq!(body_for("searched")["tools"], json!([{"googleSearch": {}}]));
    assert!(body_for("plain").get("tools").is_none());
    let lines: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let searched = lines.iter().find(|l| l["id"] == "s").unwrap();
    assert_eq!(searched["answer"], ANSWER, "the answer as written");
    assert_eq!(searched["sources"].as_array().unwrap().len(), 3);
    assert_eq!(searched["citations"][0]["sources"], json!([1]));
    assert!(lines.iter().find(|l| l["id"] == "p").unwrap().get("sources").is_none());
    // --search for every line.
    let run = env.run(&["batch", "--search", "--no-cache", input.to_str().unwrap()]);
    ok(&run);
    assert_eq!(body_for("plain")["tools"], json!([{"googleSearch": {}}]));
}

#[test]
fn a_grounded_answer_is_never_answered_from_the_cache() {
    let env = Env::new(Behavior::text(ANSWER));
    ok(&env.run(&["ask", "--search", "news today?"]));
    let run = env.run(&["ask", "--search", "news today?"]);
    ok(&run);
    assert_eq!(env.fake.generate_count(), 2, "the second identical question was asked again");
    assert!(run.stdout.contains("[1]"), "{run:?}");
    // --raw writes the model's text exactly: the markers stay out, the sources go to stderr.
    let raw = env.run(&["ask", "--search", "--raw", "news today?"]);
    ok(&raw);
    assert_eq!(raw.stdout, format!("{ANSWER}\n"));
    assert!(raw.stderr.contains("Sources:\n[1] "), "{raw:?}");
    let cached: i64 = env.history().query_row("SELECT count(*) FROM answer_cache", [], |r| r.get(0)).unwrap();
    assert_eq!(cached, 0);
    // Without tools the cache works as before.
    ok(&env.run(&["ask", "plain question"]));
    ok(&env.run(&["ask", "plain question"]));
    // (three searched asks and one plain one reached the server)
    assert_eq!(env.fake.generate_count(), 4);
}

#[test]
fn url_context_lists_the_pages_read_and_those_that_could_not_be() {
    let env = Env::new(Behavior::text("Both pages describe geese."));
    let run = env.run(&["ask", "--url-context", "compare https://example.com/geese and https://down.invalid/x"]);
    ok(&run);
    assert_eq!(
        run.stdout,
        "Both pages describe geese.[1]\n\nSources:\n[1] example.com — https://example.com/geese\nCould not read https://down.invalid/x (error)\n"
    );
}

#[test]
fn on_a_terminal_a_grounded_answer_is_rendered_with_styled_markers() {
    let env = Env::new(Behavior::text(ANSWER));
    let Some(run) = env.run_in_terminal(&["ask", "--search", "why do birds migrate?"]) else { return };
    assert_eq!(run.code, 0, "{run:?}");
    let plain = strip_sgr(&run.stdout);
    assert!(plain.contains("Birds migrate to find food.[1] They return in spring.[2][3]"), "{plain:?}");
    assert!(plain.contains("Sources:\r\n[1] "), "{plain:?}");
    assert!(run.stdout.contains("\x1b["), "styled: {:?}", run.stdout);
}

fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_demo_answers_with_sources_when_search_is_on() {
    let env = Env::new(Behavior::text("unused"));
    let run = finish(env.command(&["--demo", "ask", "--search", "why do birds migrate?"]).env_remove("GEMINI_API_KEY"));
    ok(&run);
    assert!(run.stdout.contains("[1]") && run.stdout.contains("\nSources:\n[1] "), "{}", run.stdout);
    assert_eq!(env.fake.generate_count(), 0, "the demo has its own server");
}

#[tokio::test]
async fn the_fake_refuses_an_unknown_tool_shape_with_the_apis_400() {
    let fake = geminal::gemini::fake::FakeGemini::start(Default::default(), Behavior::text("ok")).await.unwrap();
    let url = format!("{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", fake.base_url());
    let response = reqwest::Client::new()
        .post(url)
        .header("x-goog-api-key", "k")
        .body(r#"{"contents":[{"parts":[{"text":"hi"}]}],"tools":[{"google_search_tool":{}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        body["error"]["message"],
        "Invalid JSON payload received. Unknown name \"google_search_tool\" at 'tools[0]': Cannot find field."
    );
}

#[test]
fn the_line_chat_on_a_pipe_shows_sources_and_sends_clean_history() {
    let env = Env::new(Behavior::text(ANSWER));
    let run = env.run_with_stdin(&["--search"], "first question\nsecond question\n");
    ok(&run);
    assert!(
        run.stdout.starts_with("Birds migrate to find food.[1] They return in spring.[2][3]\n\nSources:\n[1] "),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("\nSources:\n").count(), 2, "each answer has its sources: {}", run.stdout);
    let second = env.last_body();
    assert_eq!(second["tools"], json!([{"googleSearch": {}}]));
    assert_eq!(second["contents"][1]["parts"][0]["text"], ANSWER);
}

/// A hostile server: an answer with a `javascript:` link and a code block that would end a
/// shell's bracketed paste, and sources whose addresses are `javascript:` and `data:`. The Markdown export links only the
/// web source; `history show` and the export on a terminal stay escaped (`history show` lists
/// every source's address as text, never as a link).
#[test]
fn a_hostile_answers_sources_are_linked_only_when_they_are_web_addresses() {
    let text = "Run [this](javascript:alert(1)):\n\n```sh\necho safe\u{1b}[201~\rtouch ~/pwned\r# done\n```\n";
    let first = json!({"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}]});
    let grounding = json!({
        "groundingChunks": [
            {"web": {"uri": "javascript:alert(document.cookie)", "title": "click me"}},
            {"web": {"uri": "data:text/html,<script>alert(1)</script>", "title": ""}},
            {"web": {"uri": "https://example.org/birds", "title": "birds"}}
        ],
        "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 9}, "groundingChunkIndices": [0, 1, 2]}]
    });
    let last = json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0,
                      "groundingMetadata": grounding}]});
    let env = Env::new(Behavior::raw(sse(&[first, last])));
    ok(&env.run(&["ask", "--search", "q"]));
    let md = env.run(&["history", "export", "1", "--format", "md"]).stdout;
    assert!(md.contains("1. click me (its address is not a web link)\n"), "{md}");
    assert!(md.contains("2. (a source whose address is not a web link)\n"), "{md}");
    assert!(md.contains("3. [birds](<https://example.org/birds>)\n"), "{md}");
    assert!(md.contains("Run this[1][2][3]:"), "the answer's own link is its text alone: {md}");
    assert!(!md.contains("javascript:") && !md.contains("data:text"), "{md}");
    // On a terminal the export and `history show` hold no control character but newlines.
    for args in [&["history", "export", "1", "--format", "md"][..], &["history", "show", "1"][..]] {
        let Some(run) = env.run_in_terminal(args) else { return };
        ok(&run);
        let shown = run.stdout.replace("\r\n", "\n");
        assert!(shown.contains("echo safe␛[201~␍touch ~/pwned␍# done"), "{shown:?}");
        assert!(!shown.contains("\u{1b}[201~") && !shown.contains('\r'), "{shown:?}");
    }
}
