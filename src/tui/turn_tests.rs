//! A tab's turn through the interface's command runner, against the in-process fake: the tab
//! hears a budget 80% spent when it sends (not only at start), the deadline (`timeout_secs`)
//! bounds a turn whose upload never gets ready, the context fit counts what is attached, and a
//! tab's turn carries its tools and an approver that asks that tab.

use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use secrecy::SecretString;

use super::*;
use crate::chat::{ChatOptions, Outcome};
use crate::engine::{Engine, EngineConfig};
use crate::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use crate::gemini::{Client, ClientOptions, Timeouts};
use crate::money::Usd;
use crate::store::Store;

struct Setup {
    fake: FakeGemini,
    runner: Runner,
    rx: mpsc::UnboundedReceiver<AppEvent>,
    app: App,
    _dir: tempfile::TempDir,
}

async fn setup(spent: Option<Usd>, budgets: crate::config::Budgets, deadline: Option<Duration>) -> Setup {
    setup_with(FakeOptions::default(), "gemini-2.5-flash", spent, budgets, deadline).await
}

async fn setup_with(
    options: FakeOptions,
    model: &str,
    spent: Option<Usd>,
    budgets: crate::config::Budgets,
    deadline: Option<Duration>,
) -> Setup {
    let fake = FakeGemini::start(options, Behavior::text("Fine.")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    if let Some(cost) = spent {
        let entry = crate::store::SpendEntry {
            model: "gemini-2.5-flash".into(),
            priced_as: Some("gemini:gemini-2.5-flash".into()),
            cost: Some(cost),
            prompt_tokens: Some(1),
            output_tokens: Some(1),
            thought_tokens: Some(0),
            batch: false,
        };
        store.record_spend(&entry).unwrap();
    }
    let client = Client::new(ClientOptions {
        base_url: fake.base_url(),
        api_key: Some(SecretString::from("k")),
        timeouts: Timeouts::default(),
    })
    .unwrap();
    let options = ChatOptions { inline_max_bytes: 100_000, ..ChatOptions::default() };
    let session = ChatSession::new(
        Engine::new(client, EngineConfig::default()),
        Some(StoreHandle::spawn(store).unwrap()),
        options,
    );
    let app = App::new(model, false);
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(Arc::new(session), crate::config::ClipboardMode::default(), tx, &app, budgets, deadline);
    Setup { fake, runner, rx, app, _dir: dir }
}

/// Every event of the turn until it is over (done, or refused).
async fn events(s: &mut Setup) -> Vec<AppEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), s.rx.recv()).await.unwrap().unwrap();
        let over = matches!(event, AppEvent::TurnDone { .. } | AppEvent::TurnFailedToStart { .. });
        seen.push(event);
        if over {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_tab_hears_a_budget_nearly_spent_when_it_sends_and_is_still_answered() {
    let daily = Usd::from_dollars(1.0).unwrap();
    let budgets = crate::config::Budgets { daily: Some(daily), monthly: None };
    let mut s = setup(Some(Usd::from_dollars(0.9).unwrap()), budgets, None).await;
    for c in "hello".chars() {
        s.app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    s.app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    for command in std::mem::take(&mut s.app.commands) {
        s.runner.perform(command, &s.app);
    }
    let seen = events(&mut s).await;
    let notes: Vec<&String> =
        seen.iter().filter_map(|e| if let AppEvent::TurnNote { text, .. } = e { Some(text) } else { None }).collect();
    assert_eq!(notes, ["$0.90 of the daily budget of $1.00 is spent today (90%)."]);
    let Some(AppEvent::TurnDone { report, .. }) = seen.last() else { panic!("{seen:?}") };
    assert_eq!((report.outcome.clone(), report.text.as_str()), (Outcome::Complete, "Fine."));
    // The tab shows it in its own line.
    for event in seen {
        if let AppEvent::TurnNote { .. } = event {
            s.app.on_event(event);
            break;
        }
    }
    assert_eq!(
        s.app.tab().flash.as_ref().map(|f| f.text.as_str()),
        Some("$0.90 of the daily budget of $1.00 is spent today (90%).")
    );
}

#[tokio::test]
async fn a_tabs_deadline_bounds_an_upload_that_never_gets_ready() {
    let mut s = setup(None, crate::config::Budgets::default(), Some(Duration::from_secs(1))).await;
    s.fake.set_processing_polls(1_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    mp4.resize(300_000, 7);
    std::fs::write(&path, mp4).unwrap();
    let attachments = vec![crate::attach::read_path(&path).unwrap()];
    let send = Command::Send {
        tab: s.app.tab().id,
        turn: 7,
        prompt: "what happens?".into(),
        branch: Branch::Continue,
        attachments,
    };
    let started = std::time::Instant::now();
    s.runner.perform(send, &s.app);
    let seen = events(&mut s).await;
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    let Some(AppEvent::TurnFailedToStart { turn: 7, message }) = seen.last() else { panic!("{seen:?}") };
    assert!(message.contains("took longer than 1s"), "{message}");
    assert!(s.fake.requests().iter().all(|r| !r.path.contains("enerateContent")), "nothing was asked");
}

#[tokio::test]
async fn a_tabs_context_fit_counts_its_attachments_as_ask_and_batch_do() {
    // A model whose input limit (6,000 tokens) a 40 KB text file passes with a short prompt.
    let mut models = crate::gemini::fake::default_models();
    let mut tiny = models[0].clone();
    tiny.name = "models/tiny-model".into();
    tiny.input_token_limit = Some(6_000);
    models.push(tiny);
    let options = FakeOptions { models, ..FakeOptions::default() };
    let mut s = setup_with(options, "tiny-model", None, crate::config::Budgets::default(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "word ".repeat(8_000)).unwrap();
    let attachments = vec![crate::attach::read_path(&path).unwrap()];
    let send = Command::Send {
        tab: s.app.tab().id,
        turn: 3,
        prompt: "summarize".into(),
        branch: Branch::Continue,
        attachments,
    };
    s.runner.perform(send, &s.app);
    let seen = events(&mut s).await;
    let Some(AppEvent::TurnFailedToStart { turn: 3, message }) = seen.last() else { panic!("{seen:?}") };
    assert!(message.contains("over tiny-model's input limit of 6000"), "{message}");
    assert!(s.fake.requests().iter().all(|r| !r.path.contains("enerateContent")), "nothing was asked");
}

#[tokio::test]
async fn a_tabs_tools_and_an_approver_that_asks_that_tab_go_in_its_turns_spec() {
    let mut s = setup(None, crate::config::Budgets::default(), None).await;
    s.app.tool_servers = vec!["fs".into(), "time".into()];
    s.app.max_tool_steps = 3;
    for c in "/tools time".chars().chain(['\n']).chain("what time is it?".chars()) {
        let code = if c == '\n' { KeyCode::Enter } else { KeyCode::Char(c) };
        s.app.on_terminal(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    s.app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let Some(Command::Send { tab, turn, prompt, branch, attachments }) = s.app.commands.pop() else {
        panic!("{:?}", s.app.commands)
    };
    let t = s.app.tabs.iter().find(|t| t.id == tab).unwrap();
    let spec = s.runner.spec(&s.app, t, turn, prompt, branch, attachments);
    assert_eq!(spec.tools.selection, crate::tools::Selection::Servers(vec!["time".into()]));
    assert_eq!((spec.tools.max_steps, spec.tools.approve_all), (3, false));
    // Its approver asks this tab, about this turn, and the user's word comes back.
    let approver = spec.tools.approver.expect("the interface's approver");
    let calls = vec![crate::tools::PendingCall {
        id: "c1".into(),
        server: "time".into(),
        tool: "get_current_time".into(),
        arguments: serde_json::json!({"timezone": "UTC"}),
    }];
    let asking = tokio::spawn(async move { approver.approve(0, 7, &calls).await });
    let event = tokio::time::timeout(Duration::from_secs(5), s.rx.recv()).await.unwrap().unwrap();
    assert!(matches!(&event, AppEvent::Approve { turn: t, .. } if *t == turn), "{event:?}");
    s.app.on_event(event);
    assert_eq!(s.app.focus, keys::Focus::Approve);
    let waiting = s.app.tab_mut().approval.as_mut().unwrap();
    waiting.shown_at = waiting.shown_at.checked_sub(overlay::approve::ARMS_AFTER).unwrap();
    s.app.on_terminal(Event::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    assert_eq!(asking.await.unwrap(), [crate::tools::Approval::Run]);
}
