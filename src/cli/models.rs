//! `geminal models`: the models the key can use for text, with their token limits.

use clap::Args;

use super::exit::{self, Failure};
use super::{ConnectArgs, GlobalArgs, connect};
use crate::sanitize::one_line;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Also list models that cannot generate text (embeddings...).
    #[arg(long)]
    pub all: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(global: &GlobalArgs, flags: &ConnectArgs, args: &ModelsArgs) -> Result<u8, Failure> {
    let conn = connect(global, flags, None).await?;
    let mut models = conn.client.list_models().await?;
    if !args.all {
        models.retain(|m| m.supported_generation_methods.iter().any(|g| g == "generateContent"));
    }
    models.sort_by(|a, b| a.id().cmp(b.id()));
    let mut out = String::new();
    if args.json {
        for m in &models {
            let line = serde_json::json!({
                "id": m.id(), "name": m.display_name, "input_token_limit": m.input_token_limit,
                "output_token_limit": m.output_token_limit, "thinking": m.thinking,
            });
            out.push_str(&format!("{line}\n"));
        }
    } else {
        let width = models.iter().map(|m| m.id().chars().count()).max().unwrap_or(5).max(5);
        out.push_str(&format!("{:<width$}  {:>9}  {:>9}  {}\n", "MODEL", "INPUT", "OUTPUT", "NAME"));
        for m in &models {
            let limit = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            out.push_str(&format!(
                "{:<width$}  {:>9}  {:>9}  {}\n",
                one_line(m.id(), 60),
                limit(m.input_token_limit),
                limit(m.output_token_limit),
                one_line(m.display_name.as_deref().unwrap_or(""), 60)
            ));
        }
    }
    if args.json {
        super::output::print_json(&out);
    } else {
        let _ = super::output::write_flush(&mut std::io::stdout(), out.as_bytes());
    }
    Ok(exit::OK)
}
