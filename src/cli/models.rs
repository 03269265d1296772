//! `geminal models`: every provider's models (`--provider NAME` for one), with their token
//! limits where the provider gives them. A provider that cannot list its models is one line
//! on stderr; the others are still listed.

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
    /// Only this provider's models (a name from the config's [providers], or gemini).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(global: &GlobalArgs, flags: &ConnectArgs, args: &ModelsArgs) -> Result<u8, Failure> {
    let conn = connect(global, flags, None).await?;
    let providers = &conn.providers;
    if let Some(name) = args.provider.as_deref()
        && providers.get(name).is_none()
    {
        let known = providers.provider_names().collect::<Vec<_>>().join(", ");
        return Err(Failure::usage(format!(
            "There is no provider called {}: use one of {known}, or add [providers.{}] to the config file.",
            one_line(name, 40),
            one_line(name, 40)
        )));
    }
    let listing = providers.list_models(args.provider.as_deref()).await;
    // With one provider asked for (or only one configured), its failure is the command's.
    let single = args.provider.is_some() || providers.provider_names().count() == 1;
    if listing.models.is_empty()
        && single
        && let Some((_, error)) = listing.failed.first()
    {
        return Err(error.clone().into());
    }
    for (name, error) in &listing.failed {
        eprintln!("geminal: the models of provider {name} could not be listed: {error}");
    }
    let mut models = listing.models;
    if !args.all {
        models.retain(|(_, m)| m.capabilities.generates_text);
    }
    models.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    if args.json {
        for (id, m) in &models {
            let (provider, model) = providers.split(id);
            let line = serde_json::json!({
                "id": id, "provider": provider, "model": model, "name": m.display_name,
                "input_token_limit": m.input_token_limit, "output_token_limit": m.output_token_limit,
                "thinking": m.capabilities.thinking,
            });
            out.push_str(&format!("{line}\n"));
        }
    } else {
        let width = models.iter().map(|(id, _)| id.chars().count()).max().unwrap_or(5).max(5);
        out.push_str(&format!("{:<width$}  {:>9}  {:>9}  {}\n", "MODEL", "INPUT", "OUTPUT", "NAME"));
        for (id, m) in &models {
            let limit = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            out.push_str(&format!(
                "{:<width$}  {:>9}  {:>9}  {}\n",
                one_line(id, 60),
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
