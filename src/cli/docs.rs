//! `geminal completions SHELL` and `geminal man`: generated from the same definition as the
//! parser (clap_complete, clap_mangen), so they never drift from the flags.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::exit::{self, Failure};
use super::output;

#[derive(Debug, Args)]
#[command(
    after_help = "Install, for example:\n  geminal completions bash > ~/.local/share/bash-completion/completions/geminal\n  geminal completions zsh > ~/.zfunc/_geminal   (with fpath+=~/.zfunc before compinit)\n  geminal completions fish > ~/.config/fish/completions/geminal.fish"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> Result<u8, Failure> {
    let mut command = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "geminal", &mut script);
    write(&script)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command's own page (`geminal man history` is geminal-history(1); `history search` goes a level down).
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Writes the manual page (roff) of geminal, or of one of its commands, to stdout.
pub fn man(args: &ManArgs) -> Result<u8, Failure> {
    let mut command = super::Cli::command().disable_help_subcommand(true);
    // Building names the commands' pages as the main page refers to them (geminal-history).
    command.build();
    for name in &args.command {
        let found = command.get_subcommands().find(|c| c.get_name() == name && !c.is_hide_set()).cloned();
        command =
            found.ok_or_else(|| Failure::usage(format!("There is no command `{name}`: see `geminal --help`.")))?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .source(format!("geminal {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)
        .map_err(|e| Failure::new(exit::FAILURE, format!("The manual page could not be written ({e}).")))?;
    write(&page)
}

fn write(bytes: &[u8]) -> Result<u8, Failure> {
    // A closed pipe (`geminal man | head`) is not a failure.
    let _ = output::write_flush(&mut std::io::stdout(), bytes);
    Ok(exit::OK)
}
