//! The generation flags shared by `ask`, `batch` and the interface, made from the settings'
//! registry (`chat::registry`): each setting it marks as a flag becomes `--NAME` (a switch also
//! `--no-NAME`), with its help and `[config: KEY]`. Given before the command
//! (`geminal --temperature 0.2 ask`), they apply to it unless it repeats them.

use std::path::Path;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::exit::Failure;
use crate::chat::Settings;
use crate::chat::registry::{Kind, SETTINGS, Spec, Value};

/// The generation flags given: the settings they set, as given (checked by [`Self::settings`]).
#[derive(Debug, Clone, Default)]
pub struct GenerationArgs {
    given: Settings,
}

/// The settings the common flags carry.
fn flags() -> impl Iterator<Item = &'static Spec> {
    SETTINGS.iter().filter(|s| s.flag)
}

impl clap::Args for GenerationArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for spec in flags() {
            let arg = Arg::new(spec.key)
                .long(spec.name)
                .help(format!("{} [config: {}]", spec.help, spec.key))
                .help_heading("Generation");
            cmd = cmd.arg(match spec.kind {
                Kind::Switch => arg.action(ArgAction::SetTrue).overrides_with(spec.off_name),
                Kind::Texts { .. } => arg.action(ArgAction::Append).value_name(spec.value_name),
                _ => arg
                    .action(ArgAction::Set)
                    .value_name(spec.value_name)
                    .allow_negative_numbers(spec.kind == Kind::Integer)
                    .value_parser(move |text: &str| spec.parse_text(text).map_err(|e| e.0)),
            });
            if spec.kind == Kind::Switch {
                cmd = cmd.arg(
                    Arg::new(spec.off_name)
                        .long(spec.off_name)
                        .action(ArgAction::SetTrue)
                        .help(spec.off_help)
                        .help_heading("Generation"),
                );
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for GenerationArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = GenerationArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for spec in flags() {
            let value = match spec.kind {
                Kind::Switch if matches.get_flag(spec.key) => Some(Value::Switch(true)),
                Kind::Switch if matches.get_flag(spec.off_name) => Some(Value::Switch(false)),
                Kind::Switch => None,
                Kind::Texts { .. } => matches.get_many::<String>(spec.key).map(|v| Value::Texts(v.cloned().collect())),
                _ => matches.get_one::<Value>(spec.key).cloned(),
            };
            if value.is_some() {
                spec.put(&mut self.given, value);
            }
        }
        Ok(())
    }
}

impl GenerationArgs {
    /// These flags, each taken from `outer` (given before the command) where not given here.
    pub fn or(&self, outer: &GenerationArgs) -> GenerationArgs {
        GenerationArgs { given: outer.given.with(&self.given) }
    }

    /// The first flag given, by name (for a command it does not apply to).
    pub fn first_given(&self) -> Option<String> {
        flags().find_map(|spec| match spec.get(&self.given)? {
            Value::Switch(false) => Some(format!("--{}", spec.off_name)),
            _ => Some(format!("--{}", spec.name)),
        })
    }

    /// The settings these flags set (checked now, so a bad value fails before anything starts;
    /// what the model can take is checked once the model is known).
    pub fn settings(&self) -> Result<Settings, Failure> {
        self.given.validate().map_err(|e| Failure::usage(e.to_string()))?;
        Ok(self.given.clone())
    }
}

/// Reads `--json-schema FILE`: a JSON Schema document (a JSON object).
pub fn read_json_schema(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("The JSON schema {} could not be read ({}): check the path.", path.display(), e.kind()))
    })?;
    let schema: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "The JSON schema {} is not valid JSON (line {}, column {}): fix it and try again.",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if !schema.is_object() {
        return Err(Failure::usage(format!(
            "The JSON schema {} must be a JSON object (a JSON Schema document).",
            path.display()
        )));
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_before_the_command_fill_in_what_it_does_not_repeat() {
        let given = |settings: Settings| GenerationArgs { given: settings };
        let outer =
            given(Settings { temperature: Some(0.5), seed: Some(3), search: Some(true), ..Settings::default() });
        let inner = given(Settings { temperature: Some(0.1), search: Some(false), ..Settings::default() });
        let both = inner.or(&outer).settings().unwrap();
        assert_eq!((both.temperature, both.seed, both.search), (Some(0.1), Some(3), Some(false)));
        assert_eq!(outer.first_given().as_deref(), Some("--temperature"));
        assert_eq!(inner.or(&GenerationArgs::default()).first_given().as_deref(), Some("--temperature"));
        assert_eq!(
            given(Settings { search: Some(false), ..Settings::default() }).first_given().as_deref(),
            Some("--no-search")
        );
        assert_eq!(GenerationArgs::default().first_given(), None);
    }

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        generation: GenerationArgs,
    }

    fn parse(args: &[&str]) -> Result<Settings, String> {
        use clap::Parser;
        let flags =
            Flags::try_parse_from(std::iter::once("geminal").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        flags.generation.settings().map_err(|e| e.message)
    }

    #[test]
    fn every_flag_setting_of_the_registry_is_a_flag_with_its_help() {
        use clap::CommandFactory;
        let command = Flags::command();
        for spec in flags() {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(spec.name)).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(help.starts_with(spec.help) && help.contains(&format!("[config: {}]", spec.key)), "{help}");
            // Its example, given as a flag, sets it as `/set` does.
            let mut expected = Settings::default();
            expected.set(spec.name, spec.example).unwrap();
            let flag = format!("--{}", spec.name);
            let given = if spec.is_switch() { parse(&[&flag]) } else { parse(&[&flag, spec.example]) };
            assert_eq!(given.unwrap(), expected, "{flag}");
            if spec.is_switch() {
                let off = format!("--no-{}", spec.name);
                assert_eq!(spec.get(&parse(&[&off]).unwrap()), Some(Value::Switch(false)), "{off}");
                assert_eq!(spec.get(&parse(&[&flag, &off]).unwrap()), Some(Value::Switch(false)), "the last wins");
            }
        }
        // The one left out reads a file, on the commands that take it (`--json-schema FILE`).
        let left_out: Vec<&str> = SETTINGS.iter().filter(|s| !s.flag).map(|s| s.key).collect();
        assert_eq!(left_out, ["json_schema"]);
    }

    #[test]
    fn flag_values_are_read_and_checked_as_before() {
        let s = parse(&["--stop", "END", "--stop", "STOP", "--seed", "-3", "--thinking", "2048"]).unwrap();
        assert_eq!(s.stop, Some(vec!["END".to_owned(), "STOP".to_owned()]));
        assert_eq!((s.seed, s.thinking.map(|t| t.to_string())), (Some(-3), Some("2048".to_owned())));
        assert!(parse(&["--top-p", "1.5"]).unwrap_err().contains("between 0 and 1"));
        assert!(parse(&["--temperature", "hot"]).unwrap_err().contains("must be a number"));
        assert!(parse(&["--thinking", "lots"]).unwrap_err().contains("thinking must be off, low"));
        assert!(parse(&["--top_p", "0.5"]).is_err(), "one spelling on the command line");
    }
}
