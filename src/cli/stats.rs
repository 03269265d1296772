//! `geminal stats`: requests, cache hits, tokens and latency from the history database.

use clap::Args;

use super::exit::{self, Failure};
use super::{GlobalArgs, open_store, output};
use crate::config::Config;
use crate::money::{Spending, Total, Usd};
use crate::sanitize::one_line;
use crate::store::{SpendRow, SpendStats};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only the last N hours.
    #[arg(long, value_name = "HOURS")]
    pub hours: Option<u32>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One line per client key `geminal serve` answered for.
fn clients_text(clients: &[crate::store::ClientStats]) -> String {
    clients
        .iter()
        .map(|c| {
            format!(
                "client {}: {} answers ({} from the cache), {} in, {} out tokens, ${:.4}\n",
                one_line(&c.client, 40),
                c.answers,
                c.cache_hits,
                c.prompt_tokens,
                c.output_tokens,
                c.cost.as_dollars()
            )
        })
        .collect()
}

fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{:.2}s", ms as f64 / 1000.0))
}

pub async fn run(global: &GlobalArgs, args: &StatsArgs) -> Result<u8, Failure> {
    let config = Config::resolve(&global.overrides())?;
    let store = open_store(&config).await?;
    let since = args.hours.map(|h| crate::store::now_ms() - i64::from(h) * 3_600_000);
    let s = store.call(move |st| st.stats(since)).await?;
    let (spend, spent) = store.call(move |st| Ok((st.spend_stats(since)?, st.spending()?))).await?;
    let clients = store.call(move |st| st.client_stats(since)).await?;
    let money = Money::new(&spend, &config);
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
                "money": money.json(spent, &config),
                "clients": clients.iter().map(|c| serde_json::json!({
                    "client": c.client, "answers": c.answers, "cache_hits": c.cache_hits,
                    "prompt_tokens": c.prompt_tokens, "output_tokens": c.output_tokens,
                    "cost_usd": c.cost.as_dollars(),
                })).collect::<Vec<_>>(),
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
            "requests     {} ({} ok, {} failed{failures})\ncache hits   {} ({hit_rate:.0}%)\nretries      {}\ntokens       {} in, {} out, {} thinking\nlatency      p50 {}, p95 {}\nfirst token  p50 {}, p95 {}\nhistory      {} conversations, {} messages\n{}",
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
            money.text(spent, &config),
        ) + &clients_text(&clients)
    };
    if args.json {
        output::print_json(&text);
    } else {
        let _ = output::write_flush(&mut std::io::stdout(), text.as_bytes());
    }
    Ok(exit::OK)
}

/// Money from the history: totals by model, provider and UTC day, and what the cache saved.
struct Money {
    total: Total,
    saved: Usd,
    saved_hits: i64,
    by_model: Vec<(String, Total, i64)>,
    by_provider: Vec<(String, Total, i64)>,
    by_day: Vec<(String, Total, i64)>,
}

fn total_of(row: &SpendRow) -> Total {
    Total { known: Usd::from_nanos(row.cost_nanos), unknown: u64::try_from(row.unknown).unwrap_or(0) }
}

impl Money {
    fn new(spend: &SpendStats, _config: &Config) -> Money {
        let mut total = Total::default();
        let (mut saved, mut saved_hits) = (Usd::ZERO, 0);
        let mut providers: std::collections::BTreeMap<String, (Total, i64)> = std::collections::BTreeMap::new();
        for row in &spend.by_model {
            let t = total_of(row);
            total.known = total.known.saturating_add(t.known);
            total.unknown += t.unknown;
            saved = saved.saturating_add(Usd::from_nanos(row.saved_nanos));
            saved_hits += row.cache_hits;
            let provider = crate::money::provider_of(&crate::money::price_key(&row.group)).to_owned();
            let entry = providers.entry(provider).or_default();
            entry.0.known = entry.0.known.saturating_add(t.known);
            entry.0.unknown += t.unknown;
            entry.1 += row.answers;
        }
        let rows = |rows: &[SpendRow]| rows.iter().map(|r| (r.group.clone(), total_of(r), r.answers)).collect();
        // Models by their `provider:model` name, whether the answer was priced or not.
        let mut models: Vec<(String, Total, i64)> = Vec::new();
        for row in &spend.by_model {
            let key = crate::money::price_key(&row.group);
            let t = total_of(row);
            match models.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, total, n)) => {
                    total.known = total.known.saturating_add(t.known);
                    total.unknown += t.unknown;
                    *n += row.answers;
                }
                None => models.push((key, t, row.answers)),
            }
        }
        Money {
            total,
            saved,
            saved_hits,
            by_model: models,
            by_provider: providers.into_iter().map(|(p, (t, n))| (p, t, n)).collect(),
            by_day: rows(&spend.by_day),
        }
    }

    fn text(&self, spent: Spending, config: &Config) -> String {
        let list = |rows: &[(String, Total, i64)]| {
            rows.iter().map(|(g, t, _)| format!("{} {t}", one_line(g, 60))).collect::<Vec<_>>().join(", ")
        };
        let mut out = format!("cost         {} (prices of {})\n", self.total, config.prices.as_of());
        if !self.by_model.is_empty() {
            out.push_str(&format!("  by model   {}\n", list(&self.by_model)));
            out.push_str(&format!("  by provider {}\n", list(&self.by_provider)));
            out.push_str(&format!("  by day     {}\n", list(&self.by_day)));
        }
        out.push_str(&format!("cache saved  {} ({} hits)\n", self.saved, self.saved_hits));
        let b = config.budgets;
        let budget = |limit: Option<Usd>, spent: Usd, period: &str| limit.map(|l| format!("{spent} of {l} {period}"));
        let budgets: Vec<String> =
            [budget(b.daily, spent.today, "today"), budget(b.monthly, spent.month, "this month")]
                .into_iter()
                .flatten()
                .collect();
        if !budgets.is_empty() {
            out.push_str(&format!("budgets      {}\n", budgets.join(", ")));
        }
        out
    }

    fn json(&self, spent: Spending, config: &Config) -> serde_json::Value {
        let usd = |t: &Total| (t.known > Usd::ZERO || t.unknown == 0).then(|| t.known.as_dollars());
        let rows = |key: &str, rows: &[(String, Total, i64)]| -> Vec<serde_json::Value> {
            rows.iter()
                .map(|(g, t, n)| {
                    serde_json::json!({ key: g, "cost_usd": usd(t), "unknown_price_answers": t.unknown, "answers": n })
                })
                .collect()
        };
        let b = config.budgets;
        serde_json::json!({
            "prices_as_of": config.prices.as_of(),
            "cost_usd": usd(&self.total),
            "unknown_price_answers": self.total.unknown,
            "cache_saved_usd": self.saved.as_dollars(),
            "cache_saved_hits": self.saved_hits,
            "by_model": rows("model", &self.by_model),
            "by_provider": rows("provider", &self.by_provider),
            "by_day": rows("day", &self.by_day),
            "budget": {
                "daily_usd": b.daily.map(Usd::as_dollars), "spent_today_usd": spent.today.as_dollars(),
                "monthly_usd": b.monthly.map(Usd::as_dollars), "spent_month_usd": spent.month.as_dollars(),
            },
        })
    }
}
