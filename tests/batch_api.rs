//! The Batch API's calls against the fake: create inline, list with page tokens, get with the
//! state moving on its scaled clock, cancel, delete, and both spellings of the result.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use geminal::gemini::batch::{BatchInput, BatchState, InlinedRequest};
use geminal::gemini::{GenerateContentRequest, Timeouts};

fn inline(prompts: &[&str]) -> BatchInput {
    BatchInput::Inline(
        prompts
            .iter()
            .enumerate()
            .map(|(i, p)| InlinedRequest {
                request: GenerateContentRequest {
                    contents: vec![geminal::gemini::Content::user(*p)],
                    ..GenerateContentRequest::default()
                },
                metadata: HashMap::from([("key".to_owned(), format!("k{i}"))]),
            })
            .collect(),
    )
}

#[tokio::test]
async fn jobs_are_listed_a_page_at_a_time_and_move_on_until_they_succeed() {
    let fake = common::fake().await;
    fake.set_batch_step(Duration::from_millis(40));
    let client = common::client_for(&fake, Timeouts::default());
    let mut names = Vec::new();
    for n in 0..3 {
        let op = client.create_batch("gemini-2.5-flash", &format!("job {n}"), &inline(&["a", "b"]), 0).await.unwrap();
        assert_eq!(op.state(), BatchState::Pending);
        names.push(op.name);
    }
    let first = client.list_batches(2, None).await.unwrap();
    assert_eq!(first.operations.len(), 2);
    let token = first.next_page_token.clone().expect("a second page");
    let second = client.list_batches(2, Some(&token)).await.unwrap();
    assert_eq!(second.operations.len(), 1);
    assert!(second.next_page_token.is_none());
    let mut listed: Vec<String> = first.operations.iter().chain(&second.operations).map(|o| o.name.clone()).collect();
    listed.sort();
    assert_eq!(listed, names);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let done = client.get_batch(&names[0]).await.unwrap();
    assert_eq!(done.state(), BatchState::Succeeded);
    let answers = done.inlined_responses().expect("inline answers");
    let keys: Vec<&str> = answers.iter().map(|a| a.metadata["key"].as_str()).collect();
    assert_eq!(keys, ["k0", "k1"]);
    assert_eq!(done.stats().successful_request_count, 2);
    // The list leaves inline answers out, as Google's does.
    let listed = client.list_batches(10, None).await.unwrap();
    assert!(listed.operations.iter().all(|o| o.inlined_responses().is_none()));
}

#[tokio::test]
async fn a_cancelled_job_is_cancelled_and_a_deleted_one_is_gone() {
    let fake = common::fake().await;
    fake.set_batch_step(Duration::from_secs(30));
    let client = common::client_for(&fake, Timeouts::default());
    let op = client.create_batch("gemini-2.5-flash", "to cancel", &inline(&["a"]), 3).await.unwrap();
    client.cancel_batch(&op.name).await.unwrap();
    let cancelled = client.get_batch(&op.name).await.unwrap();
    assert_eq!(cancelled.state(), BatchState::Cancelled);
    assert!(cancelled.done && cancelled.error.is_some());
    assert_eq!(fake.batch_priorities(), [3]);
    client.delete_batch(&op.name).await.unwrap();
    let gone = client.get_batch(&op.name).await.unwrap_err();
    assert!(gone.to_string().contains("no longer has the job"), "{gone}");
}

#[tokio::test]
async fn a_create_without_requests_or_with_duplicate_keys_is_refused() {
    let fake = common::fake().await;
    let client = common::client_for(&fake, Timeouts::default());
    let duplicate = match inline(&["a", "b"]) {
        BatchInput::Inline(mut items) => {
            items[1].metadata.insert("key".into(), "k0".into());
            BatchInput::Inline(items)
        }
        other => other,
    };
    let err = client.create_batch("gemini-2.5-flash", "dup", &duplicate, 0).await.unwrap_err();
    assert!(err.to_string().contains("Duplicate key"), "{err}");
    let err = client.create_batch("gemini-2.5-flash", "none", &BatchInput::Inline(Vec::new()), 0).await.unwrap_err();
    assert!(err.to_string().contains("no requests"), "{err}");
}
