//! `geminal fake-mcp` (hidden): geminal's fake MCP server (`mcp::fake`), on stdio or, with
//! `--http`, on a loopback port (its address printed), for tests and trying tools by hand.

use std::path::PathBuf;

use clap::Args;

use super::exit::{self, Failure};
use super::output;
use crate::mcp::fake::{FakeOptions, serve_http, serve_stdio};

#[derive(Debug, Args)]
pub struct FakeMcpArgs {
    /// Serve Streamable HTTP on 127.0.0.1 (prints the address) instead of stdio.
    #[arg(long)]
    pub http: bool,
    /// Never answer the handshake (a server that hangs at start).
    #[arg(long)]
    pub hang: bool,
    /// Append a line here for each cancellation and each `slow` call's end.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

pub async fn run(args: &FakeMcpArgs) -> Result<u8, Failure> {
    let options = FakeOptions { hang_at_start: args.hang, record: args.record.clone() };
    let failed = |e: std::io::Error| Failure::new(exit::FAILURE, format!("The fake MCP server stopped ({e})."));
    if args.http {
        let (address, stop) = serve_http(options).await.map_err(failed)?;
        let _ = output::write_flush(&mut std::io::stdout(), format!("{address}\n").as_bytes());
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
        return Ok(exit::OK);
    }
    serve_stdio(options).await.map_err(failed)?;
    Ok(exit::OK)
}
