//! Slash commands typed in the prompt (`/system`, `/model`, ...): what they are, how a line is
//! read as one, and what completes as you type. One table ([`COMMANDS`]: name, aliases,
//! arguments, help, whether allowed while an answer is written, whether the line chat does it,
//! and the handler) for the full-screen interface, its help and the line chat (no terminal code
//! here). A line starting with `/` is never sent to the model unless
//! it starts with `//` (which sends the rest with one `/`).

/// One command: its name and other spellings, what it takes, what the help says, when it may
/// be used, and what the rest of the line makes of it. Both front ends (the full-screen
/// interface and the line chat) parse with this table and show its help; each carries out the
/// [`Slash`] it gives in its own way.
#[derive(Debug, Clone, Copy)]
pub struct SlashCommand {
    pub name: &'static str,
    /// Other names for the same command (accepted, never completed or listed).
    pub aliases: &'static [&'static str],
    pub args: &'static str,
    pub what: &'static str,
    /// Whether it may be used while an answer is being written in the tab.
    pub while_streaming: bool,
    /// Whether the line chat carries it out (else it says the command needs the full-screen
    /// interface, and sends nothing).
    pub on_a_line: bool,
    /// The handler: what the rest of the line (trimmed) asks for.
    pub parse: fn(&str) -> Slash,
}

impl PartialEq for SlashCommand {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for SlashCommand {}

pub const COMMANDS: &[SlashCommand] = &[
    SlashCommand {
        name: "/help",
        aliases: &[],
        args: "",
        what: "every key and command",
        while_streaming: true,
        on_a_line: true,
        parse: |_| Slash::Help,
    },
    SlashCommand {
        name: "/system",
        aliases: &[],
        args: "[TEXT | clear]",
        what: "show, set or clear this tab's system prompt",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| match rest {
            "" => Slash::ShowSystem,
            "clear" => Slash::ClearSystem,
            text => Slash::SetSystem(text.to_owned()),
        },
    },
    SlashCommand {
        name: "/model",
        aliases: &[],
        args: "[NAME]",
        what: "this tab's model (without a name: the picker)",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| if rest.is_empty() { Slash::ModelPicker } else { Slash::Model(rest.to_owned()) },
    },
    SlashCommand {
        name: "/rename",
        aliases: &[],
        args: "TITLE",
        what: "rename this conversation",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| if rest.is_empty() { Slash::MissingArgument("/rename") } else { Slash::Rename(rest.to_owned()) },
    },
    SlashCommand {
        name: "/export",
        aliases: &[],
        args: "[FILE]",
        what: "write this conversation to FILE (.md, or .json)",
        while_streaming: true,
        on_a_line: false,
        parse: |rest| Slash::Export(Some(rest.to_owned()).filter(|f| !f.is_empty())),
    },
    SlashCommand {
        name: "/thinking",
        aliases: &[],
        args: "[off|low|medium|high|N]",
        what: "how much this tab's model thinks",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| Slash::Thinking(Some(rest.to_owned()).filter(|l| !l.is_empty())),
    },
    SlashCommand {
        name: "/thoughts",
        aliases: &[],
        args: "[on|off]",
        what: "ask for and show thought summaries",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| match rest {
            "" => Slash::Thoughts(None),
            "on" => Slash::Thoughts(Some(true)),
            "off" => Slash::Thoughts(Some(false)),
            _ => Slash::MissingArgument("/thoughts"),
        },
    },
    // Tab settings like any other (`/set search on` does the same); alone, they switch.
    SlashCommand {
        name: "/search",
        aliases: &[],
        args: "[on|off]",
        what: "ground answers in Google Search, with sources",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| switch("search", rest),
    },
    SlashCommand {
        name: "/url-context",
        aliases: &["/urlcontext"],
        args: "[on|off]",
        what: "let the model read the pages the prompt links to",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| switch("url-context", rest),
    },
    SlashCommand {
        name: "/set",
        aliases: &[],
        args: "[NAME VALUE]",
        what: "temperature top-p max-tokens seed stop …",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| match rest.split_once(char::is_whitespace) {
            _ if rest.is_empty() => Slash::Set(None),
            Some((name, value)) => Slash::Set(Some((name.to_owned(), value.trim().to_owned()))),
            None => Slash::MissingArgument("/set"),
        },
    },
    SlashCommand {
        name: "/attach",
        aliases: &[],
        args: "[PATH | clear]",
        what: "a file for the next prompt (alone: list)",
        while_streaming: true,
        on_a_line: false,
        parse: |rest| match rest {
            "" => Slash::ShowAttachments,
            "clear" => Slash::ClearAttachments,
            path => Slash::Attach(path.to_owned()),
        },
    },
    SlashCommand {
        name: "/clear",
        aliases: &["/new"],
        args: "",
        what: "a new conversation in this tab (the old one is kept)",
        while_streaming: false,
        on_a_line: true,
        parse: |_| Slash::Clear,
    },
    SlashCommand {
        name: "/role",
        aliases: &[],
        args: "[NAME | none]",
        what: "answer as a role (alone: pick one)",
        while_streaming: true,
        on_a_line: true,
        parse: |rest| Slash::Role(Some(rest.to_owned()).filter(|n| !n.is_empty())),
    },
    SlashCommand {
        name: "/tools",
        aliases: &[],
        args: "[on | off | NAME,NAME…]",
        what: "the MCP servers whose tools this tab offers (alone: list)",
        while_streaming: true,
        on_a_line: false,
        parse: |rest| {
            Slash::Tools(match rest {
                "" => ToolsChoice::Show,
                "on" | "all" => ToolsChoice::On,
                "off" | "none" => ToolsChoice::Off,
                names => {
                    let mut list: Vec<String> = Vec::new();
                    for name in names.split(|c: char| c == ',' || c.is_whitespace()).filter(|n| !n.is_empty()) {
                        if !list.iter().any(|n| n == name) {
                            list.push(name.to_owned());
                        }
                    }
                    ToolsChoice::Servers(list)
                }
            })
        },
    },
];

/// `/search` and `/url-context`: the setting `name` set to `value`, or switched when alone.
fn switch(name: &str, value: &str) -> Slash {
    let value = if value.is_empty() { "toggle" } else { value };
    Slash::Set(Some((name.to_owned(), value.to_owned())))
}

/// What a line typed in the prompt asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slash {
    Help,
    /// `/system` alone: show the system prompt.
    ShowSystem,
    ClearSystem,
    SetSystem(String),
    /// `/model` alone: the picker.
    ModelPicker,
    Model(String),
    Rename(String),
    /// `/export [FILE]`: write the conversation to FILE (or a name made from its title).
    Export(Option<String>),
    /// `/attach PATH`: attach a file to the next prompt.
    Attach(String),
    /// `/attach` alone: list what is attached to the next prompt.
    ShowAttachments,
    /// `/attach clear`: attach nothing after all.
    ClearAttachments,
    Clear,
    /// A command that needs an argument, given none (its name).
    MissingArgument(&'static str),
    /// Not a command geminal knows (the word typed).
    Unknown(String),
    /// `//text`: the text `/text`, to send as a prompt.
    Literal(String),
    /// `/thinking [LEVEL]` (alone: show it).
    Thinking(Option<String>),
    /// `/thoughts [on|off]` (alone: switch).
    Thoughts(Option<bool>),
    /// `/set NAME VALUE` (alone: show this tab's settings).
    Set(Option<(String, String)>),
    /// `/role NAME` (`none` clears it; alone: list the roles).
    Role(Option<String>),
    /// `/tools …`: which servers' tools the tab offers.
    Tools(ToolsChoice),
}

/// What `/tools` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolsChoice {
    /// Alone: list the configured servers and whether each is on.
    Show,
    /// `on` (or `all`): every configured server's.
    On,
    /// `off` (or `none`): no tools.
    Off,
    /// These servers' (comma- or space-separated, each once).
    Servers(Vec<String>),
}

/// The command `word` names (its name or an alias).
pub fn find(word: &str) -> Option<&'static SlashCommand> {
    COMMANDS.iter().find(|c| c.name == word || c.aliases.contains(&word))
}

/// The command a line (trimmed) starts with, if it names one (`//` starts none).
pub fn command_of(line: &str) -> Option<&'static SlashCommand> {
    let line = line.trim();
    if line.starts_with("//") {
        return None;
    }
    find(line.split(char::is_whitespace).next().unwrap_or(line))
}

/// Reads `line` (trimmed) as a slash command; `None` when it does not start with `/`.
pub fn parse(line: &str) -> Option<Slash> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("//") {
        return Some(Slash::Literal(format!("/{rest}")));
    }
    if !line.starts_with('/') {
        return None;
    }
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    Some(match find(word) {
        Some(command) => (command.parse)(rest.trim()),
        None => Slash::Unknown(word.to_owned()),
    })
}

/// The commands that what is typed so far could become: while the line is a `/` followed by
/// the start of a name (no space yet).
pub fn completions(typed: &str) -> Vec<&'static SlashCommand> {
    if !typed.starts_with('/') || typed.starts_with("//") || typed.contains(char::is_whitespace) {
        return Vec::new();
    }
    COMMANDS.iter().filter(|c| c.name.starts_with(typed)).collect()
}

/// The role names that complete `/role START` (none unless the line is that command).
pub fn role_completions<'a>(typed: &str, roles: &'a [crate::chat::NamedRole]) -> Vec<&'a str> {
    let Some(start) = typed.strip_prefix("/role ") else { return Vec::new() };
    if start.contains(char::is_whitespace) {
        return Vec::new();
    }
    let mut names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).chain(["none"]).collect();
    names.retain(|n| n.starts_with(start));
    names
}

/// What Tab makes of `/role START`: the whole name when one role matches, else the longest
/// start the matches share; `None` when nothing would change.
pub fn complete_role(typed: &str, roles: &[crate::chat::NamedRole]) -> Option<String> {
    let matches = role_completions(typed, roles);
    let first = *matches.first()?;
    if matches.len() == 1 {
        return Some(format!("/role {first}"));
    }
    let common: String = matches.iter().fold(first.to_owned(), |common, n| {
        common.chars().zip(n.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect()
    });
    (common.len() + "/role ".len() > typed.len()).then(|| format!("/role {common}"))
}

/// What Tab can make of `/tools …START`: the line with its last name (after a comma or a
/// space) completed to each server of `servers` it could be (not one named already), or to
/// `on` / `off` when it is the first word.
pub fn tools_completions(typed: &str, servers: &[String]) -> Vec<String> {
    let Some(rest) = typed.strip_prefix("/tools ") else { return Vec::new() };
    let at = rest.rfind([',', ' ']).map_or(0, |i| i + 1);
    let (before, start) = rest.split_at(at);
    let named: Vec<&str> = before.split([',', ' ']).filter(|n| !n.is_empty()).collect();
    let words = if named.is_empty() { ["on", "off"].as_slice() } else { [].as_slice() };
    words
        .iter()
        .copied()
        .chain(servers.iter().map(String::as_str))
        .filter(|n| n.starts_with(start) && !named.contains(n))
        .map(|n| format!("/tools {before}{n}"))
        .collect()
}

/// What Tab makes of the typed start of a command: the whole name (and a space) when one
/// command matches, else the longest start they share; `None` when nothing would change.
pub fn complete(typed: &str) -> Option<String> {
    let matches = completions(typed);
    let first = matches.first()?;
    if matches.len() == 1 {
        return Some(format!("{} ", first.name));
    }
    let common = matches.iter().fold(first.name.to_owned(), |common, c| {
        common.chars().zip(c.name.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect()
    });
    (common.len() > typed.len()).then_some(common)
}

/// The files `@path` words of a prompt name: each word starting with `@` whose rest (without
/// trailing punctuation) is an existing file. Anything else (`@user`, an e-mail address) is
/// left as text.
pub fn at_paths(prompt: &str) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for word in prompt.split_whitespace() {
        let Some(rest) = word.strip_prefix('@').filter(|r| !r.is_empty()) else { continue };
        let trimmed = rest.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
        let found = [rest, trimmed].into_iter().map(expand_home).find(|p| p.is_file());
        if let Some(path) = found
            && !paths.contains(&path)
        {
            paths.push(path);
        }
    }
    paths
}

/// `~/x` as a path under the home directory; anything else as written.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// What Tab makes of the start of a path: the whole name when one entry matches (with a `/`
/// for a directory), else the longest start the matches share; `None` when nothing would change.
pub fn complete_path(typed: &str) -> Option<String> {
    let dir = &typed[..typed.rfind('/').map_or(0, |at| at + 1)];
    let start = &typed[dir.len()..];
    let matches = path_candidates(typed);
    let first = matches.first()?;
    if matches.len() == 1 {
        return Some(first.clone());
    }
    let names = matches.iter().map(|m| m[dir.len()..].trim_end_matches('/'));
    let common = names.fold(first[dir.len()..].to_owned(), |common, name| {
        common.chars().zip(name.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect()
    });
    (common.len() > start.len()).then(|| format!("{dir}{common}"))
}

/// Every path the start of one could become, sorted: the directory as typed, then each entry
/// whose name starts with what follows (a `/` after a directory; hidden ones only when the start
/// is a dot).
pub fn path_candidates(typed: &str) -> Vec<String> {
    let (dir, start) = match typed.rfind('/') {
        Some(at) => (&typed[..=at], &typed[at + 1..]),
        None => ("", typed),
    };
    let read_from = if dir.is_empty() { std::path::PathBuf::from(".") } else { expand_home(dir) };
    let Ok(entries) = std::fs::read_dir(read_from) else { return Vec::new() };
    let mut matches: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path().is_dir())))
        .filter(|(name, _)| name.starts_with(start) && (start.starts_with('.') || !name.starts_with('.')))
        .map(|(name, is_dir)| format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        .collect();
    matches.sort();
    matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_reads_as_its_own_command() {
        for command in COMMANDS {
            for word in std::iter::once(&command.name).chain(command.aliases) {
                assert_eq!(find(word), Some(command), "{word}");
                assert_eq!(command_of(&format!("  {word} x ")), Some(command), "{word}");
                assert!(!matches!(parse(word), Some(Slash::Unknown(_)) | None), "{word}");
                assert_eq!(parse(word), Some((command.parse)("")), "{word}");
            }
        }
        assert_eq!(parse("/new"), Some(Slash::Clear));
        assert_eq!(command_of("//help"), None, "// starts no command");
        assert_eq!(command_of("/nope"), None);
    }

    #[test]
    fn lines_read_as_commands() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("/system"), Some(Slash::ShowSystem));
        assert_eq!(parse("/system clear"), Some(Slash::ClearSystem));
        assert_eq!(parse(" /system  be brief "), Some(Slash::SetSystem("be brief".into())));
        assert_eq!(parse("/model"), Some(Slash::ModelPicker));
        assert_eq!(parse("/model gemini-2.5-pro"), Some(Slash::Model("gemini-2.5-pro".into())));
        assert_eq!(parse("/rename"), Some(Slash::MissingArgument("/rename")));
        assert_eq!(parse("/rename Bird notes"), Some(Slash::Rename("Bird notes".into())));
        assert_eq!(parse("/clear"), Some(Slash::Clear));
        assert_eq!(parse("/help"), Some(Slash::Help));
        assert_eq!(parse("/thinking"), Some(Slash::Thinking(None)));
        assert_eq!(parse("/thinking high"), Some(Slash::Thinking(Some("high".into()))));
        assert_eq!(parse("/thoughts"), Some(Slash::Thoughts(None)));
        assert_eq!(parse("/thoughts off"), Some(Slash::Thoughts(Some(false))));
        assert_eq!(parse("/set"), Some(Slash::Set(None)));
        assert_eq!(parse("/set temperature  0.2"), Some(Slash::Set(Some(("temperature".into(), "0.2".into())))));
        assert_eq!(parse("/set temperature"), Some(Slash::MissingArgument("/set")));
        assert_eq!(parse("/search"), Some(Slash::Set(Some(("search".into(), "toggle".into())))));
        assert_eq!(parse("/search off"), Some(Slash::Set(Some(("search".into(), "off".into())))));
        assert_eq!(parse("/url-context on"), Some(Slash::Set(Some(("url-context".into(), "on".into())))));
        assert_eq!(parse("/urlcontext on"), Some(Slash::Set(Some(("url-context".into(), "on".into())))), "an alias");
        assert_eq!(parse("/etc/passwd is what?"), Some(Slash::Unknown("/etc/passwd".into())));
        assert_eq!(parse("//etc/passwd is what?"), Some(Slash::Literal("/etc/passwd is what?".into())));
    }

    #[test]
    fn completion_follows_what_is_typed() {
        let names = |typed| completions(typed).iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(
            names("/"),
            [
                "/help",
                "/system",
                "/model",
                "/rename",
                "/export",
                "/thinking",
                "/thoughts",
                "/search",
                "/url-context",
                "/set",
                "/attach",
                "/clear",
                "/role",
                "/tools"
            ]
        );
        assert_eq!(parse("/export"), Some(Slash::Export(None)));
        assert_eq!(parse("/export  notes/birds.json "), Some(Slash::Export(Some("notes/birds.json".into()))));
        assert_eq!(names("/s"), ["/system", "/search", "/set"]);
        assert_eq!(complete("/se"), None, "/search and /set share only /se");
        assert_eq!(complete("/sea").as_deref(), Some("/search "));
        assert_eq!(complete("/u").as_deref(), Some("/url-context "));
        assert_eq!(names("/th"), ["/thinking", "/thoughts"]);
        assert_eq!(complete("/thi").as_deref(), Some("/thinking "));
        assert_eq!(complete("/th"), None, "nothing shared beyond /th");
        assert!(names("/system x").is_empty() && names("hi").is_empty() && names("//").is_empty());
        assert_eq!(complete("/sy").as_deref(), Some("/system "));
        assert_eq!(complete("/x"), None);
        assert_eq!(complete("/"), None, "nothing shared beyond the slash");
    }

    #[test]
    fn a_settings_own_command_is_in_the_table_and_sets_it() {
        for spec in crate::chat::registry::SETTINGS {
            let Some(name) = spec.command else { continue };
            assert!(COMMANDS.iter().any(|c| c.name == name), "{name}");
            let line = format!("{name} {}", spec.example);
            match parse(&line) {
                Some(Slash::Set(Some((set, _)))) => assert_eq!(set, spec.name, "{line}"),
                Some(Slash::Thinking(Some(_)) | Slash::Thoughts(Some(_))) => {}
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn tools_reads_on_off_or_the_names_of_servers() {
        let servers =
            |names: &[&str]| Some(Slash::Tools(ToolsChoice::Servers(names.iter().map(|n| n.to_string()).collect())));
        assert_eq!(parse("/tools"), Some(Slash::Tools(ToolsChoice::Show)));
        assert_eq!(parse("/tools on"), Some(Slash::Tools(ToolsChoice::On)));
        assert_eq!(parse("/tools all"), Some(Slash::Tools(ToolsChoice::On)));
        assert_eq!(parse("/tools off"), Some(Slash::Tools(ToolsChoice::Off)));
        assert_eq!(parse("/tools none"), Some(Slash::Tools(ToolsChoice::Off)));
        assert_eq!(parse("/tools fs,remote"), servers(&["fs", "remote"]));
        assert_eq!(parse("/tools  fs, remote fs "), servers(&["fs", "remote"]), "each once, however separated");
        assert_eq!(parse("/tools ,"), servers(&[]));
        assert!(!find("/tools").unwrap().on_a_line, "the line chat has no tools yet");
    }

    #[test]
    fn server_names_complete_after_slash_tools() {
        let servers = ["fs".to_owned(), "time".to_owned(), "remote".to_owned()];
        assert_eq!(tools_completions("/tools f", &servers), ["/tools fs"]);
        assert_eq!(
            tools_completions("/tools ", &servers),
            ["/tools on", "/tools off", "/tools fs", "/tools time", "/tools remote"]
        );
        assert_eq!(tools_completions("/tools o", &servers), ["/tools on", "/tools off"]);
        assert_eq!(
            tools_completions("/tools fs,", &servers),
            ["/tools fs,time", "/tools fs,remote"],
            "not fs twice, nor on"
        );
        assert_eq!(tools_completions("/tools fs r", &servers), ["/tools fs remote"]);
        assert!(tools_completions("/role f", &servers).is_empty());
    }

    #[test]
    fn attach_reads_a_path_lists_or_clears() {
        assert_eq!(parse("/attach notes/report.pdf"), Some(Slash::Attach("notes/report.pdf".into())));
        assert_eq!(parse("/attach"), Some(Slash::ShowAttachments));
        assert_eq!(parse("/attach clear"), Some(Slash::ClearAttachments));
    }

    #[test]
    fn at_words_name_files_only_when_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        let f = file.display().to_string();
        let prompt = format!("summarize @{f}, mail bob@example.com or ask @alice about @{f}");
        assert_eq!(at_paths(&prompt), [file], "the file once; the address and the name are text");
        assert!(at_paths(&format!("@{}", dir.path().display())).is_empty(), "a directory is not attached");
    }

    #[test]
    fn paths_complete_to_the_one_match_or_the_shared_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report-2025.pdf"), "x").unwrap();
        std::fs::write(dir.path().join("report-2026.pdf"), "x").unwrap();
        std::fs::create_dir(dir.path().join("photos")).unwrap();
        let base = format!("{}/", dir.path().display());
        assert_eq!(complete_path(&format!("{base}rep")), Some(format!("{base}report-202")));
        assert_eq!(complete_path(&format!("{base}ph")), Some(format!("{base}photos/")));
        assert_eq!(complete_path(&format!("{base}report-2026")), Some(format!("{base}report-2026.pdf")));
        assert_eq!(complete_path(&format!("{base}zzz")), None);
        assert_eq!(
            path_candidates(&format!("{base}report-202")),
            [format!("{base}report-2025.pdf"), format!("{base}report-2026.pdf")]
        );
        assert_eq!(path_candidates(&format!("{base}p")), [format!("{base}photos/")]);
    }

    #[test]
    fn role_names_complete_after_slash_role() {
        let role = |name: &str| crate::chat::NamedRole {
            name: name.into(),
            prompt: None,
            model: None,
            settings: crate::chat::Settings::default(),
            source: crate::chat::RoleSource::File("r.md".into()),
            fallback: Vec::new(),
            tools: None,
        };
        let roles = [role("reviewer"), role("rewriter"), role("poet")];
        assert_eq!(parse("/role"), Some(Slash::Role(None)));
        assert_eq!(parse("/role  poet "), Some(Slash::Role(Some("poet".into()))));
        assert_eq!(role_completions("/role re", &roles), ["reviewer", "rewriter"]);
        assert_eq!(complete_role("/role p", &roles).as_deref(), Some("/role poet"));
        assert_eq!(complete_role("/role r", &roles).as_deref(), Some("/role re"));
        assert_eq!(complete_role("/role re", &roles), None, "nothing more is shared");
        assert_eq!(complete_role("/role n", &roles).as_deref(), Some("/role none"));
        assert!(role_completions("/model x", &roles).is_empty());
    }
}
