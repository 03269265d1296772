//! `geminal cache`: what the answer cache holds, and emptying it. Opens only the history
//! database (no key, no network), like `history`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::exit::{self, Failure};
use super::{GlobalArgs, open_store, output};
use crate::config::Config;
use crate::format::{ago, bytes};
use crate::store::{CacheStats, StoreHandle, now_ms};

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: Option<CacheCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, size, hits, the time to live and the ages of the cached answers (the default).
    Stats {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached answers (asks first on a terminal).
    Clear {
        /// Only the answers past their time to live (config `cache_ttl`).
        #[arg(long)]
        expired: bool,
        /// Remove without asking.
        #[arg(short, long)]
        yes: bool,
    },
}

pub async fn run(global: &GlobalArgs, args: &CacheArgs) -> Result<u8, Failure> {
    let config = Config::resolve(&global.overrides())?;
    let store = open_store(&config).await?;
    let ttl = config.cache_ttl;
    match args.command {
        None => stats(&store, ttl, false).await,
        Some(CacheCommand::Stats { json }) => stats(&store, ttl, json).await,
        Some(CacheCommand::Clear { expired, yes }) => clear(&store, ttl, expired, yes).await,
    }
}

fn ttl_text(ttl: Option<Duration>) -> String {
    ttl.map_or_else(|| "never".to_owned(), crate::format::human_duration)
}

async fn stats(store: &StoreHandle, ttl: Option<Duration>, json: bool) -> Result<u8, Failure> {
    let s = store.call(move |st| st.cache_stats(ttl)).await?;
    if json {
        output::print_json(&stats_json(&s, ttl));
    } else {
        let _ = output::write_flush(&mut std::io::stdout(), stats_text(&s, ttl, now_ms()).as_bytes());
    }
    Ok(exit::OK)
}

fn stats_json(s: &CacheStats, ttl: Option<Duration>) -> String {
    let value = serde_json::json!({
        "entries": s.entries, "bytes": s.text_bytes, "hits": s.hits,
        "ttl_secs": ttl.map(|t| t.as_secs()), "oldest_at": s.oldest_at, "newest_at": s.newest_at,
        "expired": s.expired,
    });
    format!("{value}\n")
}

fn stats_text(s: &CacheStats, ttl: Option<Duration>, now: i64) -> String {
    let age = |at: Option<i64>| at.map_or_else(|| "-".to_owned(), |at| ago(at, now));
    let expired = if s.expired > 0 {
        format!("{} (removed when met, or now with `geminal cache clear --expired`)", s.expired)
    } else {
        "0".to_owned()
    };
    format!(
        "entries       {}\nsize          {} of answers\nhits          {}\ntime to live  {}\noldest        {}\nnewest        {}\nexpired       {expired}\n",
        s.entries,
        bytes(u64::try_from(s.text_bytes).unwrap_or(0)),
        s.hits,
        ttl_text(ttl),
        age(s.oldest_at),
        age(s.newest_at),
    )
}

fn answers(n: i64) -> String {
    if n == 1 { "1 cached answer".to_owned() } else { format!("{n} cached answers") }
}

async fn clear(store: &StoreHandle, ttl: Option<Duration>, expired: bool, yes: bool) -> Result<u8, Failure> {
    let s = store.call(move |st| st.cache_stats(ttl)).await?;
    let count = if expired { s.expired } else { s.entries };
    if count == 0 {
        let what = if expired { "No cached answer has expired" } else { "The answer cache is already empty" };
        eprintln!("geminal: {what}; nothing removed.");
        return Ok(exit::OK);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage("Not clearing the answer cache without confirmation: add --yes."));
        }
        let what = if expired {
            format!("{} past their time to live ({})", answers(count), ttl_text(ttl))
        } else {
            format!("all {} ({})", answers(count), bytes(u64::try_from(s.text_bytes).unwrap_or(0)))
        };
        eprint!("Remove {what}? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("geminal: nothing removed.");
            return Ok(exit::OK);
        }
    }
    let removed = store.call(move |st| if expired { st.cache_clear_expired(ttl) } else { st.cache_clear() }).await?;
    eprintln!("geminal: removed {}.", answers(i64::try_from(removed).unwrap_or(i64::MAX)));
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_as_a_table() {
        let s = CacheStats {
            entries: 3,
            text_bytes: 49_357,
            hits: 7,
            oldest_at: Some(0),
            newest_at: Some(2 * 3_600_000),
            expired: 1,
        };
        let text = stats_text(&s, Some(Duration::from_secs(86_400)), 2 * 3_600_000 + 5_000);
        assert_eq!(
            text,
            "entries       3\nsize          48.2 KiB of answers\nhits          7\ntime to live  24h\noldest        2h ago\nnewest        just now\nexpired       1 (removed when met, or now with `geminal cache clear --expired`)\n"
        );
        let empty = stats_text(&CacheStats::default(), None, 0);
        assert!(empty.contains("time to live  never\n") && empty.contains("oldest        -\n"), "{empty}");
    }
}
