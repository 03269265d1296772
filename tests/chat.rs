//! A turn end to end in-process: fake Gemini + real store. The cache answers repeats without a
//! request and never keeps a bad answer; answers are saved as they grow; a full disk loses
//! nothing already shown; cancelling keeps the partial answer.

mod common;

use std::time::Duration;

use common::{client_for, fake, quick_timeouts};
use geminal::chat::{Branch, ChatOptions, ChatSession, Outcome, Shown, Target, TurnEvent, TurnReport};
use geminal::engine::{Engine, EngineConfig, RetryPolicy};
use geminal::gemini::fake::{Behavior, FakeGemini, Fault, StreamEnd};
use geminal::store::{Alternatives, MessageStatus, Store, StoreError, StoreHandle, StoredMessage};

const MODEL: &str = "gemini-2.5-flash";

struct Setup {
    fake: FakeGemini,
    session: ChatSession,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup_with(prepare: impl FnOnce(&Store)) -> Setup {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    let (store, _) = Store::open(&db).unwrap();
    prepare(&store);
    let session = ChatSession::new(engine(&fake), Some(StoreHandle::spawn(store).unwrap()), ChatOptions::default());
    Setup { fake, session, db, _dir: dir }
}

/// An engine that does not retry: these tests look at single failures.
fn engine(fake: &FakeGemini) -> Engine {
    let config =
        EngineConfig { retry: RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }, ..EngineConfig::default() };
    Engine::new(client_for(fake, quick_timeouts()), config)
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

async fn turn(
    s: &Setup,
    target: Target,
    prompt: &str,
    model: Option<&str>,
    system: Option<&str>,
) -> (TurnReport, String) {
    let prepared = s
        .session
        .prepare(target, prompt.into(), model.map(str::to_owned), MODEL, system.map(str::to_owned))
        .await
        .unwrap();
    let mut shown = String::new();
    let report = s
        .session
        .run(
            prepared,
            &mut |t| {
                if let Shown::Text(t) = t {
                    shown.push_str(&t)
                }
            },
            std::future::pending(),
        )
        .await;
    (report, shown)
}

fn reader(s: &Setup) -> rusqlite::Connection {
    rusqlite::Connection::open(&s.db).unwrap()
}

#[tokio::test]
async fn a_repeated_question_is_answered_from_the_cache_without_a_request() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("Birds follow food.").with_chunks(3));
    let (first, shown) = turn(&s, Target::New, "why do birds migrate?", None, None).await;
    assert_eq!((first.outcome.clone(), first.cached, shown.as_str()), (Outcome::Complete, false, "Birds follow food."));
    let (second, shown) = turn(&s, Target::New, "why do birds migrate?", None, None).await;
    assert_eq!((second.outcome, second.cached, shown.as_str()), (Outcome::Complete, true, "Birds follow food."));
    assert_eq!(s.fake.generate_count(), 1, "no request for the cached answer");
    let cached: i64 = reader(&s)
        .query_row(
            "SELECT cached FROM messages WHERE conversation_id = ?1 AND role = 'model'",
            [second.conversation_id.unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cached, 1, "saved in history, marked as cached");
    let (hits, requests): (i64, i64) = reader(&s)
        .query_row("SELECT sum(cached), count(*) FROM request_metrics", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((hits, requests), (1, 2));
}

#[tokio::test]
async fn the_cache_is_persistent_across_sessions() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("persisted"));
    turn(&s, Target::New, "q", None, None).await;
    let (store, _) = Store::open(&s.db).unwrap();
    let fresh = ChatSession::new(engine(&s.fake), Some(StoreHandle::spawn(store).unwrap()), ChatOptions::default());
    let prepared = fresh.prepare(Target::New, "q".into(), None, MODEL, None).await.unwrap();
    let report = fresh.run(prepared, &mut |_| {}, std::future::pending()).await;
    assert!(report.cached);
    assert_eq!(report.text, "persisted");
    assert_eq!(s.fake.generate_count(), 1);
}

#[tokio::test]
async fn a_change_of_model_system_or_history_misses_the_cache() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("an answer"));
    let (first, _) = turn(&s, Target::New, "q", None, None).await;
    turn(&s, Target::New, "q", Some("gemini-2.5-pro"), None).await;
    turn(&s, Target::New, "q", None, Some("be terse")).await;
    let (continued, _) = turn(&s, Target::Conversation(first.conversation_id.unwrap()), "q", None, None).await;
    assert!(!continued.cached, "same prompt, but after history");
    assert_eq!(s.fake.generate_count(), 4);
    let (again, _) = turn(&s, Target::New, "q", None, Some("be terse")).await;
    assert!(again.cached);
    assert_eq!(s.fake.generate_count(), 4);
}

#[tokio::test]
async fn a_bad_answer_is_never_cached() {
    let s = setup().await;
    let faults = [
        Fault::CutAfter(1),
        Fault::TruncateAfter(1),
        Fault::BareErrorAfter { after: 1, status: 503 },
        Fault::ErrorEventAfter { after: 1, status: 500 },
        Fault::StopAfter { after: 1, reason: "SAFETY".into() },
        Fault::StopAfter { after: 1, reason: "RECITATION".into() },
        Fault::StopAfter { after: 1, reason: "MAX_TOKENS".into() },
        Fault::PromptBlocked("SAFETY".into()),
        Fault::http(503),
    ];
    for (i, fault) in faults.iter().enumerate() {
        let prompt = format!("question {i}");
        s.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(fault.clone()));
        let (report, _) = turn(&s, Target::New, &prompt, None, None).await;
        assert!(matches!(report.outcome, Outcome::Failed(_)), "{fault:?}: {report:?}");
        let before = s.fake.generate_count();
        s.fake.push(Behavior::text("good"));
        let (retry, shown) = turn(&s, Target::New, &prompt, None, None).await;
        assert!(!retry.cached, "{fault:?} was cached");
        assert_eq!(shown, "good");
        assert_eq!(s.fake.generate_count(), before + 1);
    }
}

#[tokio::test]
async fn failures_are_saved_with_the_right_status_and_text() {
    let s = setup().await;
    let cases = [
        (Fault::CutAfter(1), MessageStatus::Interrupted, "ab", "truncated"),
        (Fault::http(503), MessageStatus::Error, "", "server"),
        (Fault::PromptBlocked("SAFETY".into()), MessageStatus::Blocked, "", "prompt_blocked"),
        (Fault::StopAfter { after: 1, reason: "SAFETY".into() }, MessageStatus::Blocked, "ab", "answer_stopped"),
    ];
    for (fault, status, text, kind) in cases {
        s.fake.push(Behavior::text("abcdef").with_chunks(3).with_fault(fault.clone()));
        let (report, _) = turn(&s, Target::New, "q", None, None).await;
        let (got_status, got_text, error, got_kind): (String, String, Option<String>, Option<String>) = reader(&s)
            .query_row(
                "SELECT status, text, error, error_kind FROM messages WHERE conversation_id = ?1 AND role = 'model'",
                [report.conversation_id.unwrap()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((got_status.as_str(), got_text.as_str()), (status.as_str(), text), "{fault:?}");
        // The error as data: its kind (and detail), no sentence.
        assert_eq!((error, got_kind.as_deref()), (None, Some(kind)), "{fault:?}");
    }
}

#[tokio::test]
async fn an_answer_is_saved_while_it_streams() {
    let s = setup().await;
    let answer: String = (0..40).map(|i| format!("w{i:02} ")).collect();
    s.fake.push(Behavior::text(answer.clone()).with_chunks(40).with_chunk_delay(Duration::from_millis(40)));
    let prepared = s.session.prepare(Target::New, "slow".into(), None, MODEL, None).await.unwrap();
    let running = tokio::spawn({
        let db = s.db.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.query_row("SELECT status, text FROM messages WHERE role = 'model'", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .unwrap()
        }
    });
    let report = s.session.run(prepared, &mut |_| {}, std::future::pending()).await;
    let (status, partial) = running.await.unwrap();
    assert_eq!(status, "streaming");
    assert!(!partial.is_empty() && partial.len() < answer.len() && answer.starts_with(&partial), "{partial:?}");
    assert_eq!(report.text, answer);
    let (status, text): (String, String) = reader(&s)
        .query_row("SELECT status, text FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), text), ("complete", answer));
}

#[tokio::test]
async fn cancelling_keeps_the_partial_answer_and_closes_the_connection() {
    let s = setup().await;
    s.fake.push(Behavior::text("abcdefghij").with_chunks(10).with_chunk_delay(Duration::from_millis(100)));
    let prepared = s.session.prepare(Target::New, "q".into(), None, MODEL, None).await.unwrap();
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(350)).await;
        TurnEvent::Cancelled
    };
    let report = s.session.run(prepared, &mut |_| {}, cancel).await;
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(
        !report.text.is_empty() && "abcdefghij".starts_with(&report.text) && report.text.len() < 10,
        "{:?}",
        report.text
    );
    let (status, text): (String, String) = reader(&s)
        .query_row("SELECT status, text FROM messages WHERE role = 'model'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((status.as_str(), text), ("interrupted", report.text));
    let id = s.fake.requests().last().unwrap().id;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.fake.stream_end(id).map(|e| e.0), Some(StreamEnd::ClientClosed));
}

#[tokio::test]
async fn a_full_disk_loses_nothing_already_shown() {
    let s = setup_with(|store| {
        let pages: i64 = store.connection().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        store.connection().pragma_update(None, "max_page_count", pages + 3).unwrap();
    })
    .await;
    let answer = "long answer text ".repeat(2000);
    s.fake.push(Behavior::text(answer.clone()).with_chunks(20));
    let (report, shown) = turn(&s, Target::New, "q", None, None).await;
    assert_eq!(shown, answer, "everything reached the screen");
    assert_eq!(report.outcome, Outcome::Complete);
    let error = report.save_error.expect("the failed save is reported");
    assert!(matches!(error, StoreError::DiskFull { .. }), "{error}");
    assert!(error.to_string().contains("h.sqlite3"));
}

#[tokio::test]
async fn a_history_that_cannot_take_the_prompt_asks_nothing() {
    // The writer's connection refuses writes, as on a read-only file or mount.
    let s = setup_with(|store| store.connection().pragma_update(None, "query_only", true).unwrap()).await;
    s.fake.set_default(Behavior::text("an answer that could not be kept"));
    let (report, shown) = turn(&s, Target::New, "q", None, None).await;
    let error = report.save_error.expect("the failed save is reported");
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error}");
    assert_eq!((s.fake.generate_count(), shown.as_str()), (0, ""), "nothing was asked or shown");
}

#[tokio::test]
async fn continuing_sends_the_history_and_keeps_the_conversation_model() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("first answer"));
    let (first, _) = turn(&s, Target::New, "first question", Some("gemini-2.5-pro"), Some("be brief")).await;
    s.fake.set_default(Behavior::text("second answer"));
    let (second, _) = turn(&s, Target::Last, "second question", None, None).await;
    assert_eq!(second.conversation_id, first.conversation_id);
    let request = s.fake.requests().last().unwrap().clone();
    assert_eq!(request.model(), Some("gemini-2.5-pro"));
    let body = request.generate_request().unwrap();
    let texts: Vec<String> = body.contents.iter().map(|c| c.visible_text()).collect();
    assert_eq!(texts, ["first question", "first answer", "second question"]);
    assert_eq!(body.system_instruction.unwrap().visible_text(), "be brief");
}

/// Runs a turn in saved conversation `id`, joined as `branch` says.
async fn branch_turn(s: &Setup, id: i64, branch: Branch, prompt: &str, answer: &str) -> TurnReport {
    s.fake.push(Behavior::text(answer).with_chunks(2));
    let prepared = s.session.prepare_branch(id, branch, prompt.into(), None, None).await.unwrap();
    s.session.run(prepared, &mut |_| {}, std::future::pending()).await
}

/// The texts of the last request's contents, in order.
fn sent(s: &Setup) -> Vec<String> {
    let body = s.fake.requests().last().unwrap().generate_request().unwrap();
    body.contents.iter().map(|c| c.visible_text()).collect()
}

fn store(s: &Setup) -> Store {
    Store::open(&s.db).unwrap().0
}

fn texts(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

/// q1/A1, q2/A2 saved in one conversation; returns its id and the reports.
async fn two_exchanges(s: &Setup) -> (i64, TurnReport, TurnReport) {
    s.fake.push(Behavior::text("A1"));
    let (first, _) = turn(s, Target::New, "q1", None, None).await;
    let id = first.conversation_id.unwrap();
    let second = branch_turn(s, id, Branch::Continue, "q2", "A2").await;
    (id, first, second)
}

#[tokio::test]
async fn regenerate_replaces_the_answer_sent_and_shown_and_keeps_the_old_one_as_an_alternative() {
    let s = setup().await;
    let (id, _, second) = two_exchanges(&s).await;
    let prompt_id = second.prompt_id.unwrap();
    let before = s.fake.generate_count();
    // The same question in the same place is cached (A2), yet regenerate asks again.
    let again = branch_turn(&s, id, Branch::Regenerate { prompt_id }, "", "A2 again").await;
    assert_eq!(s.fake.generate_count(), before + 1, "regenerate bypasses the cache");
    assert!(!again.cached);
    assert_eq!(sent(&s), ["q1", "A1", "q2"], "the replaced answer is not sent");
    assert_eq!(again.prompt_id, Some(prompt_id), "no second copy of the prompt");
    let store = store(&s);
    let shown = store.active_path(id).unwrap();
    assert_eq!(texts(&shown), ["q1", "A1", "q2", "A2 again"], "one answer to that prompt is shown");
    assert_eq!(shown[3].alternatives, Alternatives { index: 2, count: 2 });
    assert_eq!(store.messages(id).unwrap().len(), 5, "the old answer is kept");
    // The old answer can be shown again; what follows is asked with it, never with both.
    drop(store);
    let mut store = self::store(&s);
    store.switch_alternative(again.answer_id.unwrap(), -1).unwrap();
    assert_eq!(texts(&store.active_path(id).unwrap()), ["q1", "A1", "q2", "A2"]);
    drop(store);
    branch_turn(&s, id, Branch::Continue, "q3", "A3").await;
    assert_eq!(sent(&s), ["q1", "A1", "q2", "A2", "q3"]);
}

#[tokio::test]
async fn an_edited_prompt_branches_and_the_model_never_sees_both() {
    let s = setup().await;
    let (id, first, second) = two_exchanges(&s).await;
    branch_turn(&s, id, Branch::Continue, "q3", "A3").await;
    let edited = branch_turn(&s, id, Branch::Edit { prompt_id: second.prompt_id.unwrap() }, "q2 edited", "B2").await;
    assert_eq!(sent(&s), ["q1", "A1", "q2 edited"]);
    branch_turn(&s, id, Branch::Continue, "q3 again", "B3").await;
    assert_eq!(sent(&s), ["q1", "A1", "q2 edited", "B2", "q3 again"]);
    let mut store = store(&s);
    let shown = store.active_path(id).unwrap();
    assert_eq!(texts(&shown), ["q1", "A1", "q2 edited", "B2", "q3 again", "B3"]);
    assert_eq!(shown[2].alternatives, Alternatives { index: 2, count: 2 });
    assert_eq!(shown[2].parent_id, first.answer_id, "a sibling of the prompt it replaces");
    // The old branch is whole, down to its last answer.
    store.switch_alternative(edited.prompt_id.unwrap(), -1).unwrap();
    assert_eq!(texts(&store.active_path(id).unwrap()), ["q1", "A1", "q2", "A2", "q3", "A3"]);
    // Editing the very first prompt branches at the root.
    drop(store);
    let root = branch_turn(&s, id, Branch::Edit { prompt_id: first.prompt_id.unwrap() }, "q1 edited", "C1").await;
    assert_eq!(sent(&s), ["q1 edited"]);
    let store = self::store(&s);
    let shown = store.active_path(id).unwrap();
    assert_eq!(texts(&shown), ["q1 edited", "C1"]);
    assert_eq!((shown[0].parent_id, shown[0].alternatives.count), (None, 2));
    assert_eq!(root.conversation_id, Some(id));
}

#[tokio::test]
async fn a_branch_cannot_start_from_another_conversations_message() {
    let s = setup().await;
    let (_, _, second) = two_exchanges(&s).await;
    s.fake.push(Behavior::text("other"));
    let (other, _) = turn(&s, Target::New, "elsewhere", None, None).await;
    let prompt_id = second.prompt_id.unwrap();
    let wrong = s
        .session
        .prepare_branch(other.conversation_id.unwrap(), Branch::Regenerate { prompt_id }, String::new(), None, None)
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains(&format!("no message {prompt_id}")), "{wrong}");
    let answer = second.answer_id.unwrap();
    let not_a_prompt = s
        .session
        .prepare_branch(other.conversation_id.unwrap(), Branch::Edit { prompt_id: answer }, "x".into(), None, None)
        .await;
    assert!(not_a_prompt.is_err());
}

#[tokio::test]
async fn a_cache_hit_is_saved_by_the_same_state_machine_as_a_streamed_answer() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("Birds follow food."));
    let (first, _) = turn(&s, Target::New, "why?", None, None).await;
    let (hit, shown) = turn(&s, Target::New, "why?", None, None).await;
    assert_eq!(shown, "Birds follow food.");
    assert_eq!((hit.status, hit.cached, hit.outcome.clone()), (MessageStatus::Complete, true, Outcome::Complete));
    let store = store(&s);
    let path = store.active_path(hit.conversation_id.unwrap()).unwrap();
    assert_eq!(texts(&path), ["why?", "Birds follow food."]);
    let (answer, streamed) = (&path[1], &store.active_path(first.conversation_id.unwrap()).unwrap()[1]);
    assert_eq!((answer.status, answer.cached, answer.parent_id), (MessageStatus::Complete, true, hit.prompt_id));
    assert_eq!(answer.output_tokens, streamed.output_tokens, "the tokens of the cached answer are kept");
    assert_eq!(Some(answer.id), hit.answer_id);
}

#[tokio::test]
async fn a_conversation_reopens_with_the_model_it_last_used() {
    let s = setup().await;
    s.fake.set_default(Behavior::text("ok"));
    let (first, _) = turn(&s, Target::New, "q1", Some("gemini-2.5-pro"), None).await;
    let id = first.conversation_id.unwrap();
    turn(&s, Target::Conversation(id), "q2", Some("gemini-2.5-flash-lite"), None).await;
    assert_eq!(store(&s).conversation(id).unwrap().model, "gemini-2.5-flash-lite");
    turn(&s, Target::Conversation(id), "q3", None, None).await;
    assert_eq!(s.fake.requests().last().unwrap().model(), Some("gemini-2.5-flash-lite"));
}

/// The seam between the turn and the interface: a MAX_TOKENS stop, driven through ChatSession
/// into the TUI's state, shows the status that is saved, while streaming, when done and reopened.
#[tokio::test]
async fn a_max_tokens_stop_has_one_status_in_the_tui_the_database_and_after_reopening() {
    use geminal::tui::app::{App, AppEvent};
    let s = setup().await;
    s.fake.push(
        Behavior::text("abcdef").with_chunks(3).with_fault(Fault::StopAfter { after: 2, reason: "MAX_TOKENS".into() }),
    );
    let mut app = App::new(MODEL, false);
    for c in "write a lot".chars() {
        app.on_terminal(crossterm::event::Event::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        )));
    }
    app.on_action(geminal::tui::keys::Action::Send);
    let turn = app.tab().turn.expect("a turn runs in the tab");
    let prepared = s.session.prepare(Target::New, "write a lot".into(), Some(MODEL.into()), MODEL, None).await.unwrap();
    let mut shown = Vec::new();
    let report = s.session.run(prepared, &mut |event| shown.push(event), std::future::pending()).await;
    for event in shown {
        app.on_event(AppEvent::Turn { turn, shown: event });
        assert_eq!(app.tab().messages[1].status, MessageStatus::Streaming);
    }
    app.on_event(AppEvent::TurnDone { turn, report: Box::new(report.clone()) });
    let in_tab = app.tab().messages[1].status;
    let store = store(&s);
    let saved = store.active_path(report.conversation_id.unwrap()).unwrap();
    assert_eq!((in_tab, saved[1].status), (MessageStatus::Interrupted, MessageStatus::Interrupted));
    assert_eq!(app.tab().messages[1].text, "abcd");
    assert!(app.tab().messages[1].error.as_deref().unwrap().contains("token limit"));
    let mut reopened = App::new(MODEL, false);
    let c = store.conversation(report.conversation_id.unwrap()).unwrap();
    reopened.on_event(AppEvent::Opened {
        id: c.id,
        tool_calls: Vec::new(),
        title: c.title,
        model: c.model,
        system: None,
        settings: None,
        messages: saved,
    });
    assert_eq!(reopened.tab().messages[1].status, in_tab);
}

#[tokio::test]
async fn a_template_roles_prompt_is_filled_in_once_even_when_regenerated() {
    use geminal::chat::{NamedRole, RoleSource, Settings};
    let s = setup().await;
    let role = NamedRole {
        name: "fr".into(),
        prompt: Some("French: {{input}}".into()),
        model: None,
        settings: Settings::default(),
        source: RoleSource::File("roles/fr.md".into()),
        fallback: Vec::new(),
        tools: None,
    };
    s.fake.push(Behavior::text("Bonjour"));
    let mut prepared = s.session.prepare(Target::New, "hello".into(), None, MODEL, None).await.unwrap();
    prepared.use_role(&role, false, false, &Settings::default()).unwrap();
    let first = s.session.run(prepared, &mut |_| {}, std::future::pending()).await;
    assert_eq!(sent(&s), ["French: hello"]);
    let (id, prompt_id) = (first.conversation_id.unwrap(), first.prompt_id.unwrap());
    s.fake.push(Behavior::text("Salut"));
    let regenerate = Branch::Regenerate { prompt_id };
    let mut again = s.session.prepare_branch(id, regenerate, String::new(), None, None).await.unwrap();
    assert_eq!(again.role.as_deref(), Some("fr"), "the conversation was saved with its role");
    again.continue_role(&role, false);
    s.session.run(again, &mut |_| {}, std::future::pending()).await;
    assert_eq!(sent(&s), ["French: hello"], "the saved prompt is sent as it was, not filled in again");
    // A new prompt in the conversation is filled in.
    s.fake.push(Behavior::text("Bonne nuit"));
    let mut next = s.session.prepare_branch(id, Branch::Continue, "good night".into(), None, None).await.unwrap();
    next.continue_role(&role, false);
    s.session.run(next, &mut |_| {}, std::future::pending()).await;
    assert_eq!(sent(&s), ["French: hello", "Salut", "French: good night"]);
}
