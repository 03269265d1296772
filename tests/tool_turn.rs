//! A turn with tools, through the one runner every front end uses, against the fake Gemini (which
//! checks ids and signatures as Gemini 3 does) and an in-process tool box: one call, parallel
//! calls, refused and failing calls, the step limit, cancellation and the deadline mid-call, a
//! malformed call, an unknown tool, never cached, cost summed over rounds, what the history
//! holds after each, and a reopened conversation continuing with exactly what the model saw.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use geminal::chat::{ChatOptions, ChatSession, Outcome, Shown, Target, TurnReport};
use geminal::engine::{Engine, EngineConfig};
use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use geminal::store::{MessageStatus, Store, StoreHandle, StoredToolCall};
use geminal::tools::{
    Approval, Approver, ListError, PendingCall, Selection, ToolBox, ToolFailure, ToolInfo, ToolOutput, ToolStep,
    ToolUse,
};
use geminal::turn::{Refused, Runner, TurnSpec, Update};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const MODEL: &str = "gemini-3-flash-preview";

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A tool box of four tools on two servers: `t` (trusted: `echo`, `fail`, `slow`) and `u`
/// (untrusted: `write`). It records each call's start and end, and the cancel tokens it got.
/// A call the box ran: its tool, arguments, when it started and ended.
type Ran = (String, Value, Instant, Option<Instant>);

#[derive(Default)]
struct FakeBox {
    calls: Mutex<Vec<Ran>>,
    tokens: Mutex<Vec<CancellationToken>>,
    list_error: Option<ListError>,
}

fn info(server: &str, name: &str, trusted: bool) -> ToolInfo {
    ToolInfo {
        server: server.into(),
        name: name.into(),
        original: name.into(),
        description: format!("the {name} tool"),
        parameters: json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
        trusted,
    }
}

impl ToolBox for FakeBox {
    fn tools<'a>(&'a self, _selection: &'a Selection) -> BoxFuture<'a, Result<Vec<ToolInfo>, ListError>> {
        Box::pin(async move {
            if let Some(e) = &self.list_error {
                return Err(e.clone());
            }
            Ok(vec![
                info("t", "echo", true),
                info("t", "fail", true),
                info("t", "slow", true),
                info("t", "picture", true),
                info("u", "write", false),
            ])
        })
    }

    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: &'a Value,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            let index = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((tool.to_owned(), arguments.clone(), Instant::now(), None));
                calls.len() - 1
            };
            self.tokens.lock().unwrap().push(cancel.clone());
            let output = |content| Ok(ToolOutput { content, media: Vec::new(), is_error: false, truncated: false });
            let result = match tool {
                "echo" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    output(json!({"echo": arguments}))
                }
                "write" => output(json!({"written": true})),
                "picture" => Ok(ToolOutput {
                    content: json!({"drawn": 1}),
                    media: vec![geminal::tools::Media { mime: "image/png".into(), bytes: PNG.to_vec().into() }],
                    is_error: false,
                    truncated: false,
                }),
                "fail" => Err(ToolFailure::Failed("disk full".into())),
                _ => tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => output(json!("late")),
                    _ = cancel.cancelled() => Err(ToolFailure::Cancelled),
                },
            };
            self.calls.lock().unwrap()[index].3 = Some(Instant::now());
            result
        })
    }
}

/// Says the same word on every call, and counts what it was asked.
struct Says(Approval, Mutex<Vec<PendingCall>>);

impl Approver for Says {
    fn approve<'a>(&'a self, _turn: u64, _conversation: i64, calls: &'a [PendingCall]) -> BoxFuture<'a, Vec<Approval>> {
        self.1.lock().unwrap().extend(calls.iter().cloned());
        Box::pin(async move { vec![self.0; calls.len()] })
    }
}

struct World {
    fake: FakeGemini,
    runner: Runner,
    store: StoreHandle,
    tools: Arc<FakeBox>,
    _dir: tempfile::TempDir,
}

async fn world_with(tools: FakeBox) -> World {
    let fake = FakeGemini::start(FakeOptions::default(), Behavior::text("plain")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let store = StoreHandle::spawn(store).unwrap();
    let engine = Engine::new(common::client_for(&fake, common::quick_timeouts()), EngineConfig::default());
    let session = ChatSession::new(engine, Some(store.clone()), ChatOptions::default());
    let tools = Arc::new(tools);
    let runner = Runner::new(Arc::new(session), MODEL, Vec::new()).with_tools(tools.clone());
    World { fake, runner, store, tools, _dir: dir }
}

async fn world() -> World {
    world_with(FakeBox::default()).await
}

fn spec(prompt: &str) -> TurnSpec {
    let mut spec = TurnSpec::new(Target::New, prompt);
    spec.tools = ToolUse { selection: Selection::All, max_steps: 10, approve_all: false, approver: None };
    spec
}

/// Runs a turn to its end: what it showed, and its report.
async fn run(world: &World, spec: TurnSpec) -> (Vec<Shown>, TurnReport) {
    let mut turn = world.runner.start(spec);
    let mut shown = Vec::new();
    while let Some(update) = turn.next().await {
        match update.update {
            Update::Shown(s) => shown.push(s),
            Update::Done(report) => return (shown, *report),
            Update::Refused(r) => panic!("refused: {r:?}"),
            _ => {}
        }
    }
    panic!("the turn never ended")
}

fn bodies(fake: &FakeGemini) -> Vec<Value> {
    fake.requests()
        .iter()
        .filter(|r| r.path.contains("GenerateContent") || r.path.contains("generateContent"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

async fn saved_calls(world: &World, conversation: i64) -> Vec<StoredToolCall> {
    world.store.read(move |s| s.tool_calls_of_conversation(conversation)).await.unwrap()
}

async fn answer_status(world: &World, conversation: i64) -> (MessageStatus, String) {
    let path = world.store.read(move |s| s.active_path(conversation)).await.unwrap();
    let last = path.last().unwrap();
    (last.status, last.text.clone())
}

fn steps(shown: &[Shown]) -> Vec<&ToolStep> {
    shown.iter().filter_map(|s| if let Shown::Tool(step) = s { Some(step) } else { None }).collect()
}

/// The `functionResponse`s of a request's last turn: `(id, name, response)`.
fn responses(body: &Value) -> Vec<(Option<String>, String, Value)> {
    let last = body["contents"].as_array().unwrap().last().unwrap();
    last["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("functionResponse"))
        .map(|r| (r["id"].as_str().map(str::to_owned), r["name"].as_str().unwrap().to_owned(), r["response"].clone()))
        .collect()
}

#[tokio::test]
async fn one_call_runs_its_result_goes_back_with_its_id_and_signature_and_all_of_it_is_saved() {
    let w = world().await;
    let (shown, report) = run(&w, spec(r#"check [[call echo {"x": 1}]]"#)).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    assert!(report.text.contains(r#"echo answered {"echo":{"x":1}}"#), "the model got the result: {}", report.text);
    let sent = bodies(&w.fake);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["tools"][0]["functionDeclarations"][0]["name"], "echo", "offered: {}", sent[0]);
    // The model's turn goes back as it came: its text, then the call with its id and signature.
    let model_turn = &sent[1]["contents"][1];
    assert_eq!(model_turn["role"], "model");
    let call = model_turn["parts"].as_array().unwrap().iter().find(|p| p.get("functionCall").is_some()).unwrap();
    let id = call["functionCall"]["id"].as_str().expect("Gemini 3 gives ids").to_owned();
    assert!(call["thoughtSignature"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(responses(&sent[1]), vec![(Some(id.clone()), "echo".into(), json!({"echo": {"x": 1}}))]);
    // Shown: the call, its result, the next round.
    let steps = steps(&shown);
    assert!(matches!(steps[0], ToolStep::Called { server, tool, .. } if server == "t" && tool == "echo"), "{steps:?}");
    assert!(matches!(steps[1], ToolStep::Returned { result: Ok(_), .. }), "{steps:?}");
    assert_eq!(steps[2], &ToolStep::Round { round: 1, max: 10 });
    // Saved: the call with the provider's id and signature, its result, and the answer.
    let conversation = report.conversation_id.unwrap();
    let calls = saved_calls(&w, conversation).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].call.wire_id.as_deref(), Some(id.as_str()));
    assert_eq!(calls[0].call.signature.as_deref(), call["thoughtSignature"].as_str());
    assert_eq!((calls[0].call.server.as_deref(), calls[0].call.name.as_str()), (Some("t"), "echo"));
    let end = calls[0].end.clone().unwrap();
    assert_eq!(end.status, "ok");
    assert_eq!(serde_json::from_str::<Value>(end.result.as_deref().unwrap()).unwrap(), json!({"echo": {"x": 1}}));
    let (status, text) = answer_status(&w, conversation).await;
    assert_eq!(status, MessageStatus::Complete);
    assert!(text.starts_with("Let me use echo. ") && text.contains("echo answered"), "{text}");
    assert_eq!(calls[0].call.text_offset as usize, "Let me use echo. ".len(), "the round's text ends there");
}

#[tokio::test]
async fn parallel_calls_run_at_the_same_time() {
    let w = world().await;
    let (_, report) = run(&w, spec(r#"[[call echo {"x": 1}]] [[call echo {"x": 2}]]"#)).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    let calls = w.tools.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let (a, b) = (&calls[0], &calls[1]);
    // Each takes 300 ms: the second started before the first ended.
    assert!(b.2 < a.3.unwrap() && a.2 < b.3.unwrap(), "overlap: {calls:?}");
    let sent = bodies(&w.fake);
    let back = responses(&sent[1]);
    assert_eq!(back.len(), 2, "both results in one turn");
    assert_ne!(back[0].0, back[1].0, "each under its own id");
    assert_eq!(saved_calls(&w, report.conversation_id.unwrap()).await.len(), 2);
}

#[tokio::test]
async fn an_untrusted_call_with_no_one_to_ask_is_refused_and_the_model_is_told() {
    let w = world().await;
    let (shown, report) = run(&w, spec(r#"[[call write {"x": 1}]]"#)).await;
    assert_eq!(report.outcome, Outcome::Complete);
    assert!(w.tools.calls.lock().unwrap().is_empty(), "never run");
    let back = responses(&bodies(&w.fake)[1]);
    assert!(back[0].2["error"].as_str().unwrap().contains("no one could be asked"), "{back:?}");
    assert!(
        steps(&shown)
            .iter()
            .any(|s| matches!(s, ToolStep::Returned { result: Err(ToolFailure::Refused { needs_flag: true }), .. }))
    );
    let calls = saved_calls(&w, report.conversation_id.unwrap()).await;
    assert_eq!(calls[0].end.as_ref().unwrap().status, "refused");

    // Asked, the user says no: refused too, and the model is told it was the user.
    let no = Arc::new(Says(Approval::Refuse, Mutex::default()));
    let mut asked = spec(r#"[[call write {"x": 2}]] [[call echo {}]]"#);
    asked.tools.approver = Some(no.clone());
    let (_, report) = run(&w, asked).await;
    assert_eq!(no.1.lock().unwrap().len(), 1, "only the untrusted call is asked about");
    let back = responses(bodies(&w.fake).last().unwrap());
    assert_eq!(back[0].2["error"], "The user refused to run this call.");
    assert_eq!(back[1].2, json!({"echo": {}}), "the trusted one ran");
    assert_eq!(report.outcome, Outcome::Complete);

    // --approve-tools: it runs without asking.
    let mut all = spec(r#"[[call write {"x": 3}]]"#);
    all.tools.approve_all = true;
    run(&w, all).await;
    assert_eq!(w.tools.calls.lock().unwrap().iter().filter(|c| c.0 == "write").count(), 1);
}

#[tokio::test]
async fn stop_at_the_approval_ends_the_turn_interrupted() {
    let w = world().await;
    let stop = Arc::new(Says(Approval::Stop, Mutex::default()));
    let mut asked = spec(r#"[[call write {"x": 2}]]"#);
    asked.tools.approver = Some(stop);
    let (shown, report) = run(&w, asked).await;
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert_eq!(report.status, MessageStatus::Interrupted);
    assert_eq!(bodies(&w.fake).len(), 1, "nothing more was asked");
    assert!(w.tools.calls.lock().unwrap().is_empty());
    let (status, _) = answer_status(&w, report.conversation_id.unwrap()).await;
    assert_eq!(status, MessageStatus::Interrupted);
    // The model is never told of it (the turn ended): the call ends cancelled, not refused.
    assert!(
        steps(&shown).iter().any(|s| matches!(s, ToolStep::Returned { result: Err(ToolFailure::Cancelled), .. })),
        "{shown:?}"
    );
    let calls = saved_calls(&w, report.conversation_id.unwrap()).await;
    assert_eq!(calls[0].end.as_ref().unwrap().status, "cancelled");
}

#[tokio::test]
async fn a_call_that_fails_and_an_unknown_tool_are_error_results_the_model_reads() {
    let w = world().await;
    let (shown, report) = run(&w, spec("[[call fail {}]] [[call nope {}]]")).await;
    assert_eq!(report.outcome, Outcome::Complete);
    let back = responses(&bodies(&w.fake)[1]);
    assert_eq!(back[0].2["error"], "The tool failed: disk full");
    assert!(back[1].2["error"].as_str().unwrap().contains("No tool named nope"), "{back:?}");
    assert!(report.text.contains("disk full"), "the model read it: {}", report.text);
    assert!(
        steps(&shown)
            .iter()
            .any(|s| matches!(s, ToolStep::Returned { result: Err(ToolFailure::UnknownTool(n)), .. } if n == "nope"))
    );
    let calls = saved_calls(&w, report.conversation_id.unwrap()).await;
    let ends: Vec<_> = calls.iter().map(|c| c.end.as_ref().unwrap().status.as_str()).collect();
    assert_eq!(ends, ["failed", "unknown_tool"]);
    assert_eq!(calls[1].call.server, None, "no server offers it");
}

#[tokio::test]
async fn the_step_limit_asks_once_more_without_tools() {
    let w = world().await;
    let mut limited = spec("[[call* echo {}]]");
    limited.tools.max_steps = 2;
    let (shown, report) = run(&w, limited).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    let sent = bodies(&w.fake);
    assert_eq!(sent.len(), 3, "two rounds, then once more");
    assert!(sent[1]["tools"].is_array() && sent[2].get("tools").is_none(), "the last without tools: {}", sent[2]);
    assert!(steps(&shown).contains(&&ToolStep::StepLimit { max: 2 }));
    assert!(report.text.contains("The tools said"), "{}", report.text);
    let calls = saved_calls(&w, report.conversation_id.unwrap()).await;
    assert_eq!(calls.iter().map(|c| c.call.round).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn cancelling_mid_call_stops_at_once_and_saves_the_partial_turn() {
    let w = world().await;
    let mut turn = w.runner.start(spec("[[call slow {}]]"));
    let started = loop {
        match turn.next().await.unwrap().update {
            Update::Shown(Shown::Tool(ToolStep::Called { .. })) => break Instant::now(),
            Update::Done(r) => panic!("{r:?}"),
            _ => {}
        }
    };
    // Let the call start, then stop the turn.
    tokio::time::sleep(Duration::from_millis(200)).await;
    turn.cancel();
    let report = loop {
        if let Update::Done(report) = turn.next().await.unwrap().update {
            break report;
        }
    };
    assert!(started.elapsed() < Duration::from_secs(5), "at once");
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(w.tools.tokens.lock().unwrap()[0].is_cancelled(), "the running call was told");
    let conversation = report.conversation_id.unwrap();
    let calls = saved_calls(&w, conversation).await;
    assert_eq!(calls[0].end.as_ref().unwrap().status, "cancelled");
    let (status, text) = answer_status(&w, conversation).await;
    assert_eq!((status, text.as_str()), (MessageStatus::Interrupted, "Let me use slow. "));
}

#[tokio::test]
async fn the_deadline_covers_the_tool_calls() {
    let w = world().await;
    let mut bounded = spec("[[call slow {}]]");
    bounded.deadline = Some(Duration::from_secs(1));
    let started = Instant::now();
    let (_, report) = run(&w, bounded).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(matches!(report.outcome, Outcome::Failed(geminal::llm::ApiError::Timeout { .. })), "{report:?}");
    let calls = saved_calls(&w, report.conversation_id.unwrap()).await;
    assert_eq!(calls[0].end.as_ref().unwrap().status, "cancelled");
    assert_eq!(report.status, MessageStatus::Interrupted);
}

#[tokio::test]
async fn a_malformed_call_ends_the_answer_with_a_reason() {
    let w = world().await;
    let (_, report) = run(&w, spec("[[malformed]]")).await;
    let Outcome::Failed(error) = &report.outcome else { panic!("{report:?}") };
    assert!(error.to_string().contains("malformed function call"), "{error}");
    assert_eq!(report.status, MessageStatus::Error, "not a block");
    assert!(w.tools.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_tool_turn_is_never_answered_from_or_stored_in_the_cache() {
    let w = world().await;
    run(&w, spec("[[call echo {}]]")).await;
    let (_, again) = run(&w, spec("[[call echo {}]]")).await;
    assert!(!again.cached);
    assert_eq!(bodies(&w.fake).len(), 4, "asked both times");
    let stats = w.store.read(|s| s.cache_stats(None)).await.unwrap();
    assert_eq!(stats.entries, 0);
}

#[tokio::test]
async fn a_tool_turn_costs_the_sum_of_its_rounds() {
    let w = world().await;
    // Each round uses 1,000 tokens in and 100 out.
    let usage = json!({"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100});
    w.fake.set_default(Behavior::text("plain").with_usage(usage));
    let (_, report) = run(&w, spec("[[call echo {}]]")).await;
    let used = report.usage.unwrap();
    assert_eq!((used.prompt_token_count, used.candidates_token_count), (2000, 200), "both rounds counted");
    let book = geminal::money::PriceBook::builtin();
    let price = book.for_answer(MODEL, None).unwrap().price;
    let round = geminal::llm::Usage { prompt_token_count: 1000, candidates_token_count: 100, ..Default::default() };
    let one = geminal::money::cost(&round.billed(), &price, false).unwrap();
    assert_eq!(report.cost.cost, Some(one.saturating_add(one)));
    let spent = w.store.read(|s| s.spending()).await.unwrap();
    assert_eq!(Some(spent.today), report.cost.cost, "the ledger holds the whole turn");
    let cost = w.store.read(move |s| s.active_path(report.conversation_id.unwrap())).await.unwrap();
    let saved = cost.last().unwrap();
    assert_eq!(saved.cost.cost, report.cost.cost, "saved with the answer");
    assert_eq!((saved.prompt_tokens, saved.output_tokens), (Some(2000), Some(200)), "every round's tokens");
}

#[tokio::test]
async fn a_reopened_conversation_sends_the_calls_back_exactly() {
    let w = world().await;
    let (_, first) = run(&w, spec(r#"[[call echo {"x": 5}]]"#)).await;
    let conversation = first.conversation_id.unwrap();
    let mut next = spec("and then?");
    next.target = Target::Conversation(conversation);
    let (_, report) = run(&w, next).await;
    assert_eq!(report.outcome, Outcome::Complete, "the fake took the signatures: {report:?}");
    let sent = bodies(&w.fake);
    let round1 = &sent[1]["contents"];
    let again = &sent[2]["contents"];
    // The prompt, the model's turn (text + call), the results, the final answer, the new prompt.
    assert_eq!(again[1], round1[1], "the call went back byte for byte");
    assert_eq!(again[2], round1[2], "the results too");
    assert_eq!(again[3]["role"], "model");
    assert!(again[3]["parts"][0]["text"].as_str().unwrap().contains("echo answered"));
    assert_eq!(again[4]["parts"][0]["text"], "and then?");
}

#[tokio::test]
async fn tools_that_cannot_be_listed_refuse_the_turn_before_anything_is_sent() {
    let w = world_with(FakeBox {
        list_error: Some(ListError::ServerStopped { server: "fs".into(), last_stderr: Some("boom".into()) }),
        ..FakeBox::default()
    })
    .await;
    let mut turn = w.runner.start(spec("hi"));
    let mut refused = None;
    while let Some(update) = turn.next().await {
        if let Update::Refused(r) = update.update {
            refused = Some(r);
        }
    }
    assert!(matches!(refused, Some(Refused::Tools(ListError::ServerStopped { .. }))), "{refused:?}");
    assert!(bodies(&w.fake).is_empty());
}

#[test]
fn history_show_and_export_include_the_tool_steps_escaped() {
    let env = common::process::Env::new(Behavior::text("plain"));
    let db = env.home.path().join("data/geminal/history.sqlite3");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (store, _) = Store::open(&db).unwrap();
        let store = StoreHandle::spawn(store).unwrap();
        let engine = Engine::new(common::client_for(&env.fake, common::quick_timeouts()), EngineConfig::default());
        let session = ChatSession::new(engine, Some(store.clone()), ChatOptions::default());
        let runner = Runner::new(Arc::new(session), MODEL, Vec::new()).with_tools(Arc::new(FakeBox::default()));
        let w = World {
            fake: FakeGemini::start(FakeOptions::default(), Behavior::text("unused")).await.unwrap(),
            runner,
            store,
            tools: Arc::new(FakeBox::default()),
            _dir: tempfile::tempdir().unwrap(),
        };
        let (_, report) = run(&w, spec(r#"[[call echo {"x": "\u001b[31mred"}]] [[call write {}]]"#)).await;
        assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    });
    let show = env.run(&["history", "show", "1"]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains("→ tool t.echo {"), "{}", show.stdout);
    assert!(show.stdout.contains("← ok: {"), "{}", show.stdout);
    assert!(show.stdout.contains("← refused: This call was not run"), "{}", show.stdout);
    assert!(!show.stdout.contains('\u{1b}'), "escaped: {:?}", show.stdout);
    let md = env.run(&["history", "export", "1"]);
    assert!(md.stdout.contains("**Tool call** `t.echo`"), "{}", md.stdout);
    assert!(md.stdout.contains("**Result** (refused)"), "{}", md.stdout);
    let json = env.run(&["history", "export", "1", "--format", "json"]);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    let calls = &value["messages"][1]["tool_calls"];
    assert_eq!(calls[0]["name"], "echo");
    assert_eq!(calls[0]["arguments"], json!({"x": "\u{1b}[31mred"}), "the data as it was");
    assert_eq!(calls[0]["result"], json!({"echo": {"x": "\u{1b}[31mred"}}));
    assert_eq!(calls[1]["status"], "refused");
    assert_eq!(calls[1]["error"]["kind"], "refused");
}

#[tokio::test]
async fn an_openai_compatible_model_calls_tools_through_the_same_rounds() {
    use geminal::openai::fake::{FakeOpenAi, Options, Reply};
    use geminal::openai::{OpenAiClient, OpenAiOptions};
    let oai = FakeOpenAi::start(Options::default(), Reply::text("plain")).await.unwrap();
    let gemini = FakeGemini::start(FakeOptions::default(), Behavior::text("unused")).await.unwrap();
    let client = OpenAiClient::new(OpenAiOptions {
        name: "local".into(),
        base_url: oai.base_url(),
        api_key: None,
        api_key_env: None,
        headers: Vec::new(),
        models: Vec::new(),
        timeouts: common::quick_timeouts(),
    })
    .unwrap();
    let set = geminal::provider::ProviderSet::new(common::client_for(&gemini, common::quick_timeouts()))
        .with("local", Arc::new(client));
    let engine = Engine::with_providers(set, EngineConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let store = StoreHandle::spawn(store).unwrap();
    let session = ChatSession::new(engine, Some(store.clone()), ChatOptions::default());
    let tools = Arc::new(FakeBox::default());
    let runner = Runner::new(Arc::new(session), "local:qwen3:8b", Vec::new()).with_tools(tools.clone());
    let w = World { fake: gemini, runner, store, tools, _dir: dir };
    let (_, report) = run(&w, spec(r#"[[call echo {"x": 7}]]"#)).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    assert!(report.text.contains(r#"echo answered {"echo":{"x":7}}"#), "{}", report.text);
    let sent: Vec<Value> = oai.chat_requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "echo");
    let messages = sent[1]["messages"].as_array().unwrap();
    let call_id = messages[1]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], call_id, "the result under the call's id");
}

/// Reads what the budgets hold while it is asked, then says yes.
struct ReadsHeld(StoreHandle, Mutex<Option<geminal::money::Usd>>);

impl Approver for ReadsHeld {
    fn approve<'a>(&'a self, _turn: u64, _conversation: i64, calls: &'a [PendingCall]) -> BoxFuture<'a, Vec<Approval>> {
        Box::pin(async move {
            *self.1.lock().unwrap() = Some(self.0.read(|s| s.reserved()).await.unwrap());
            vec![Approval::Run; calls.len()]
        })
    }
}

#[tokio::test]
async fn a_tool_turn_holds_every_rounds_worst_case_against_the_budgets() {
    let w = world().await;
    let budgets = geminal::config::Budgets { daily: geminal::money::Usd::from_dollars(100.0), monthly: None };
    let held = Arc::new(ReadsHeld(w.store.clone(), Mutex::default()));
    let mut budgeted = spec("[[call write {}]]");
    budgeted.budget = geminal::turn::BudgetPolicy::per_turn(budgets, false);
    budgeted.tools.max_steps = 2;
    budgeted.tools.approver = Some(held.clone());
    let ready = w.runner.prepare(budgeted.clone(), &|_| {}).await.unwrap();
    let one = w.runner.session().worst_case(&ready.prepared).unwrap();
    let (_, report) = run(&w, budgeted).await;
    assert_eq!(report.outcome, Outcome::Complete);
    // Two rounds with tools and one more without: three times one call's worst case.
    let held = held.1.lock().unwrap().unwrap();
    assert_eq!(held, one.saturating_add(one).saturating_add(one), "one call's worst case is {one}");
    assert_eq!(w.store.read(|s| s.reserved()).await.unwrap(), geminal::money::Usd::ZERO, "given back");
}

#[tokio::test]
async fn an_image_a_tool_returns_goes_to_the_model_after_the_results() {
    let w = world().await;
    let (_, report) = run(&w, spec("[[call picture {}]]")).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    let sent = bodies(&w.fake);
    let parts = sent[1]["contents"].as_array().unwrap().last().unwrap()["parts"].as_array().unwrap().clone();
    assert_eq!(parts[0]["functionResponse"]["response"], json!({"drawn": 1}));
    assert_eq!(parts[1]["inlineData"]["mimeType"], "image/png");
    use base64::Engine as _;
    let data = parts[1]["inlineData"]["data"].as_str().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(data).unwrap(), PNG);

    // Kept with the call: the conversation continued later sends the image again, where it was.
    let conversation = report.conversation_id.unwrap();
    let calls = saved_calls(&w, conversation).await;
    assert_eq!(calls[0].end.as_ref().unwrap().media, [("image/png".to_owned(), PNG.to_vec())]);
    let mut next = spec("and then?");
    next.target = Target::Conversation(conversation);
    let (_, again) = run(&w, next).await;
    assert_eq!(again.outcome, Outcome::Complete, "{again:?}");
    let sent = bodies(&w.fake);
    assert_eq!(
        sent[2]["contents"][2], sent[1]["contents"][2],
        "the results and the image, as the model first saw them"
    );
}

#[tokio::test]
async fn a_gemini_25_call_without_an_id_goes_back_without_one() {
    let w = world().await;
    let mut older = spec(r#"[[call echo {"x": 3}]]"#);
    older.model = Some("gemini-2.5-flash".into());
    let (_, report) = run(&w, older).await;
    assert_eq!(report.outcome, Outcome::Complete, "{report:?}");
    let sent = bodies(&w.fake);
    let call = &sent[1]["contents"][1]["parts"][1];
    assert!(call["functionCall"].get("id").is_none(), "none was given: {call}");
    assert!(call["thoughtSignature"].is_string());
    assert_eq!(responses(&sent[1]), vec![(None, "echo".into(), json!({"echo": {"x": 3}}))]);
    let saved = saved_calls(&w, report.conversation_id.unwrap()).await;
    assert_eq!((saved[0].call.wire_id.as_deref(), saved[0].call.call_id.as_str()), (None, "call-1"));
}

/// Says yes, and notes the turn it was asked for.
struct NotesTurn(Mutex<Vec<u64>>);

impl Approver for NotesTurn {
    fn approve<'a>(&'a self, turn: u64, _conversation: i64, calls: &'a [PendingCall]) -> BoxFuture<'a, Vec<Approval>> {
        self.0.lock().unwrap().push(turn);
        Box::pin(async move { vec![Approval::Run; calls.len()] })
    }
}

#[tokio::test]
async fn the_approver_hears_which_turn_asks() {
    let w = world().await;
    let notes = Arc::new(NotesTurn(Mutex::default()));
    let mut asked = spec("[[call write {}]]");
    asked.tools.approver = Some(notes.clone());
    let mut turn = w.runner.start_as(41, asked);
    while let Some(update) = turn.next().await {
        if let Update::Done(report) = update.update {
            assert_eq!(report.outcome, Outcome::Complete);
        }
    }
    assert_eq!(*notes.0.lock().unwrap(), [41]);
    assert_eq!(w.tools.calls.lock().unwrap()[0].0, "write", "approved, it ran");
}

#[tokio::test]
async fn a_reopened_conversation_shows_its_calls_and_results_in_the_interface_before_the_answer() {
    use geminal::tui::app::{App, AppEvent};
    use geminal::tui::conversation::tools::ToolBody;
    let w = world().await;
    let (_, report) = run(&w, spec(r#"look [[call echo {"x": 7}]] [[call write {"x": 8}]]"#)).await;
    let conversation = report.conversation_id.unwrap();
    let (messages, tool_calls) = w
        .store
        .read(move |s| Ok((s.active_path(conversation)?, s.tool_calls_of_conversation(conversation)?)))
        .await
        .unwrap();
    let mut app = App::new(MODEL, false);
    app.on_event(AppEvent::Opened {
        id: conversation,
        title: "t".into(),
        model: MODEL.into(),
        system: None,
        settings: None,
        messages,
        tool_calls,
    });
    let shown = &app.tab().messages;
    let kinds: Vec<String> = shown
        .iter()
        .map(|m| match m.tool.as_deref() {
            Some(cell) => match &cell.body {
                ToolBody::Call { .. } => format!("call {}.{}", cell.server, cell.tool),
                ToolBody::Output { is_error, .. } => format!("output {} error={is_error}", cell.tool),
                ToolBody::Failed(why) => format!("failed {}: {why}", cell.tool),
                ToolBody::Step(s) => format!("step {s}"),
                ToolBody::Said(s) => format!("said {}", s.trim()),
            },
            None => format!("{:?}", m.role),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "User".to_owned(),
            "said Let me use echo and write.".into(),
            "call t.echo".into(),
            "output echo error=false".into(),
            "call u.write".into(),
            "failed write: Refused: no one could be asked, and the model was told it may not run this.".into(),
            "Model".into(),
        ],
        "the saved calls sit before the answer that made them, each with how it ended, and what the answer said before them above them"
    );
    assert!(shown[2..6].iter().all(|m| m.tool.as_ref().unwrap().folded), "folded, as when they ran");
    assert!(shown[6].text.starts_with("Let me use echo and write."), "the answer is kept whole: {}", shown[6].text);
    assert!(
        shown[6].text[shown[6].shown_from..].starts_with("The tools said: echo answered"),
        "and shows what came after the calls: {}",
        shown[6].text
    );
    let ToolBody::Call { arguments } = &shown[2].tool.as_ref().unwrap().body else { unreachable!() };
    assert!(arguments.contains("\"x\": 7"), "{arguments}");
}
