//! Shared helpers for integration tests: a fake Gemini and a client pointed at it.
#![allow(dead_code)]

pub mod process;

use std::time::Duration;

use geminal::gemini::fake::{Behavior, FakeGemini, FakeOptions};
use geminal::gemini::{AnswerStream, ApiError, Client, ClientOptions, StreamEvent, Timeouts, UsageMetadata};
use secrecy::SecretString;

pub const KEY: &str = "AIzaTEST-key-Secret-0123456789";

pub async fn fake() -> FakeGemini {
    FakeGemini::start(FakeOptions::default(), Behavior::default()).await.expect("fake starts")
}

pub fn client_for(fake: &FakeGemini, timeouts: Timeouts) -> Client {
    Client::new(ClientOptions { base_url: fake.base_url(), api_key: Some(SecretString::from(KEY)), timeouts })
        .expect("client")
}

pub fn quick_timeouts() -> Timeouts {
    Timeouts { connect: Duration::from_secs(2), first_token: Duration::from_secs(5), idle: Duration::from_secs(5) }
}

/// Everything one streamed answer produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub text: String,
    pub thoughts: Vec<String>,
    pub usage: Option<UsageMetadata>,
    pub events: Vec<StreamEvent>,
    pub error: Option<ApiError>,
}

pub async fn collect(mut stream: AnswerStream) -> Collected {
    let mut c = Collected::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                match &event {
                    StreamEvent::Text(t) => c.text.push_str(t),
                    StreamEvent::Thought(t) => c.thoughts.push(t.clone()),
                    StreamEvent::Usage(u) => c.usage = Some(*u),
                    _ => {}
                }
                c.events.push(event);
            }
            Err(e) => {
                c.error = Some(e);
                break;
            }
        }
    }
    c
}

/// Streams one answer for `prompt` and collects it; a failure to start lands in `error`.
pub async fn ask(client: &Client, model: &str, prompt: &str) -> Collected {
    let request = geminal::gemini::convert::request(model, &geminal::chat::Turn::new(model, prompt).request()).unwrap();
    match client.stream_generate(model, &request).await {
        Ok(stream) => collect(stream).await,
        Err(e) => Collected { error: Some(e), ..Collected::default() },
    }
}
