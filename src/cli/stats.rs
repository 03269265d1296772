//! `geminal stats`: requests, cache hits, tokens and latency from the history database.

use clap::Args;

use super::exit::{self, Failure};
use super::{GlobalArgs, open_store, output};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only the last N hours.
    #[arg(long, value_name = "HOURS")]
    pub hours: Option<u32>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{:.2}s", ms as f64 / 1000.0))
}

pub async fn run(global: &GlobalArgs, args: &StatsArgs) -> Result<u8, Failure> {
    let config = Config::resolve(&global.overrides())?;
    let store = open_store(&config).await?;
    let since = args.hours.map(|h| crate::store::now_ms() - i64::from(h) * 3_600_000);
    let s = store.call(move |st| st.stats(since)).await?;
    let text = if args.json {
        let failures: serde_json::Map<String, serde_json::Value> =
            s.failures.iter().map(|(k, n)| (k.clone(), (*n).into())).collect();
        format!(
            "{}\n",
            serde_json::json!({
                "requests": s.requests, "succeeded": s.succeeded, "failed": s.failed, "cache_hits": s.cache_hits,
                "retries": s.retries, "prompt_tokens": s.prompt_tokens, "output_tokens": s.output_tokens, "thought_tokens": s.thought_tokens,
                "latency_p50_ms": s.latency_p50_ms, "latency_p95_ms": s.latency_p95_ms,
                "first_token_p50_ms": s.first_token_p50_ms, "first_token_p95_ms": s.first_token_p95_ms,
                "failures": failures, "conversations": s.conversations, "messages": s.messages,
            })
        )
    } else {
        let failures = if s.failures.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = s.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
            format!(": {}", list.join(", "))
        };
        let hit_rate = if s.requests > 0 { s.cache_hits as f64 * 100.0 / s.requests as f64 } else { 0.0 };
        format!(
            "requests     {} ({} ok, {} failed{failures})\ncache hits   {} ({hit_rate:.0}%)\nretries      {}\ntokens       {} in, {} out, {} thinking\nlatency      p50 {}, p95 {}\nfirst token  p50 {}, p95 {}\nhistory      {} conversations, {} messages\n",
            s.requests,
            s.succeeded,
            s.failed,
            s.cache_hits,
            s.retries,
            s.prompt_tokens,
            s.output_tokens,
            s.thought_tokens,
            secs(s.latency_p50_ms),
            secs(s.latency_p95_ms),
            secs(s.first_token_p50_ms),
            secs(s.first_token_p95_ms),
            s.conversations,
            s.messages,
        )
    };
    if args.json {
        output::print_json(&text);
    } else {
        let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
    }
    Ok(exit::OK)
}
