//! The overhead geminal adds to one tool round trip (issue 24): a model call, the approval
//! skipped (the server is trusted), the tool, the next model call — over the tool's and the
//! fake Gemini's own time. In process, against the loopback fake Gemini and geminal's own fake
//! MCP server over Streamable HTTP (a stdio server needs the geminal binary, which a bench does
//! not get), with a history database as `ask` has:
//!
//! * `a_turn_with_one_echo_call`: the whole turn through the runner (listing, the two model
//!   calls, the call saved, run, its result saved, the answer saved).
//! * `b_two_model_calls_alone`: the same two streamed model calls, straight from the client.
//! * `c_one_echo_call_through_the_hub`: the tool call alone, through the `Hub`.
//! * `d_a_turn_without_tools`: one turn of one model call through the same runner (a new
//!   conversation, its saves): what any turn costs, tools or not.
//!
//! The overhead is a − b − c; of it, the tool round's own is roughly a − b − c − (d − b/2). Run: `cargo bench --bench tool_round` (`-- --quick` for a short run).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use geminal::chat::{ChatOptions, ChatSession, Target};
use geminal::engine::{Engine, EngineConfig};
use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use geminal::gemini::{Client, ClientOptions, Timeouts};
use geminal::mcp::{Hub, McpSettings, ServerSettings};
use geminal::store::{Store, StoreHandle};
use geminal::tools::{Selection, ToolBox, ToolUse};
use geminal::turn::{Runner, TurnSpec, Update};
use secrecy::SecretString;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const MODEL: &str = "gemini-3-flash-preview";
const PROMPT: &str = r#"say it [[call echo {"text": "tern"}]]"#;

fn client(fake: &FakeGemini) -> Client {
    let timeouts =
        Timeouts { connect: Duration::from_secs(2), first_token: Duration::from_secs(5), idle: Duration::from_secs(5) };
    Client::new(ClientOptions {
        base_url: fake.base_url(),
        api_key: Some(SecretString::from("AIzaBench-not-a-key")),
        timeouts,
    })
    .expect("client")
}

/// Streams one answer to its end.
async fn stream(client: &Client, request: &geminal::gemini::GenerateContentRequest) {
    let mut answer = client.stream_generate(MODEL, request).await.expect("the fake answers");
    while let Some(event) = answer.next().await {
        black_box(event.expect("a good stream"));
    }
}

fn tool_round(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fake, hub, runner, client, stop) = rt.block_on(async {
        let fake = FakeGemini::start(FakeOptions::default(), Behavior::text("plain")).await.unwrap();
        let (address, stop) = geminal::mcp::fake::serve_http(Default::default()).await.unwrap();
        let server = ServerSettings { url: Some(address), trust: true, ..ServerSettings::default() };
        let settings = McpSettings { servers: [("fake".to_owned(), server)].into(), max_result_bytes: None };
        let hub = Arc::new(Hub::new(&settings, None));
        let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
        let store = StoreHandle::spawn(store).unwrap();
        let engine = Engine::new(client(&fake), EngineConfig::default());
        let session = ChatSession::new(engine, Some(store), ChatOptions::default());
        let runner = Runner::new(Arc::new(session), MODEL, Vec::new()).with_tools(hub.clone());
        // Started once, as a second turn of a session finds it.
        hub.tools(&Selection::All).await.unwrap();
        let direct = client(&fake);
        (fake, hub, runner, direct, stop)
    });

    let turn = || async {
        let mut spec = TurnSpec::new(Target::New, PROMPT);
        spec.tools = ToolUse { selection: Selection::All, max_steps: 10, approve_all: false, approver: None };
        let mut turn = runner.start(spec);
        let mut steps = 0;
        while let Some(update) = turn.next().await {
            match update.update {
                Update::Shown(geminal::chat::Shown::Tool(_)) => steps += 1,
                Update::Done(report) => {
                    assert!(report.text.contains("echo answered"), "{}", report.text);
                    return steps;
                }
                Update::Refused(r) => panic!("refused: {r:?}"),
                _ => {}
            }
        }
        panic!("the turn never ended")
    };
    // Checked once: the turn called the tool (call, result, round) and made two model calls.
    let before = fake.generate_count();
    assert_eq!(rt.block_on(turn()), 3);
    assert_eq!(fake.generate_count() - before, 2);
    // The same two requests, as the model got them, for (b).
    let requests: Vec<geminal::gemini::GenerateContentRequest> = fake
        .requests()
        .iter()
        .rev()
        .filter(|r| r.path.contains("enerateContent"))
        .take(2)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();

    let mut group = c.benchmark_group("tool_round");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    group.bench_function("a_turn_with_one_echo_call", |b| b.iter(|| rt.block_on(turn())));
    group.bench_function("b_two_model_calls_alone", |b| {
        b.iter(|| {
            rt.block_on(async {
                for request in &requests {
                    stream(&client, request).await;
                }
            })
        })
    });
    // The same runner with no tool: one saved turn of one model call, to tell the turn's own
    // cost (a new conversation, its saves) from the tool round's.
    group.bench_function("d_a_turn_without_tools", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut turn = runner.start(TurnSpec::new(Target::New, "plain"));
                while let Some(update) = turn.next().await {
                    if let Update::Done(report) = update.update {
                        return black_box(report.text.len());
                    }
                }
                panic!("the turn never ended")
            })
        })
    });
    let arguments = json!({"text": "tern"});
    group.bench_function("c_one_echo_call_through_the_hub", |b| {
        b.iter(|| {
            rt.block_on(async {
                let out = hub.call("echo", &arguments, CancellationToken::new()).await.unwrap();
                black_box(out)
            })
        })
    });
    group.finish();
    rt.block_on(hub.stop());
    stop.cancel();
}

criterion_group!(benches, tool_round);
criterion_main!(benches);
