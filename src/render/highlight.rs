//! Syntax colour for code blocks: syntect with two-face's curated syntaxes (bat's set), loaded on
//! the first code block that names a language, never at start-up.
//!
//! Highlighting state is kept per block after each complete line, so a block that grows while an
//! answer streams is highlighted only from its last complete line on, and a block rendered again
//! (another width, another frame) is not highlighted again. The output is styles on the block's own
//! text: nothing here produces escape codes, and copying code copies the message text.

use std::cell::RefCell;
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use syntect::highlighting::{
    Color as SynColor, FontStyle, HighlightIterator, HighlightState, Highlighter, Theme as SynTheme,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};
use two_face::theme::{EmbeddedLazyThemeSet, EmbeddedThemeName};

use super::theme::{Theme, ThemeName};

/// A block's lines as styled pieces.
pub type StyledLines = Vec<Vec<(String, Style)>>;

/// Highlighting progress of recently seen blocks; the least recently used is dropped beyond this.
const CACHED_BLOCKS: usize = 64;
/// Blocks larger than this stay plain: highlighting costs about 0.1 ms a line, so a pasted log of
/// 100,000 lines would freeze the interface for seconds (and its cache would hold it twice).
const MAX_BLOCK_BYTES: usize = 256 * 1024;
/// Blocks with a line longer than this stay plain (a minified file on one line).
const MAX_LINE_BYTES: usize = 4 * 1024;

fn syntaxes() -> &'static SyntaxSet {
    static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
    SYNTAXES.get_or_init(two_face::syntax::extra_newlines)
}

fn code_theme(name: ThemeName) -> &'static SynTheme {
    static THEMES: OnceLock<EmbeddedLazyThemeSet> = OnceLock::new();
    let themes = THEMES.get_or_init(two_face::theme::extra);
    themes.get(match name {
        ThemeName::Dark => EmbeddedThemeName::OneHalfDark,
        ThemeName::Light => EmbeddedThemeName::OneHalfLight,
    })
}

/// The syntax for a fence's language label (`rust`, `py`, `c++`, `sh`…), if known.
fn syntax_for(lang: &str) -> Option<&'static SyntaxReference> {
    let lang = lang.trim().to_ascii_lowercase();
    if lang.is_empty() {
        return None;
    }
    let token = match lang.as_str() {
        "shell" | "zsh" | "console" | "shell-session" | "sh-session" => "bash",
        "c++" | "hpp" | "cxx" => "cpp",
        "golang" => "go",
        "py3" | "python3" => "python",
        "ts" | "typescript" => "TypeScript",
        "tsx" => "TypeScriptReact",
        "jsonc" | "json5" => "json",
        "patch" => "diff",
        "htm" | "xhtml" => "html",
        other => other,
    };
    let set = syntaxes();
    set.find_syntax_by_token(token).or_else(|| set.find_syntax_by_name(token))
}

/// Whether a fence label names a language that gets colour (loads the syntaxes).
pub fn knows(lang: &str) -> bool {
    syntax_for(lang).is_some()
}

struct Progress {
    syntax: &'static str,
    theme: Theme,
    /// The source lines highlighted so far (all complete: a later line followed them).
    done: Vec<String>,
    styled: StyledLines,
    parse: ParseState,
    highlight: HighlightState,
}

thread_local! {
    static BLOCKS: RefCell<Vec<Progress>> = const { RefCell::new(Vec::new()) };
}

/// `lines` (one code block, tabs already expanded) as styled pieces, or `None` when the theme has
/// no colour or the language is unknown. A line that cannot be parsed keeps its text unstyled.
/// `last_complete` says the last line ended with its newline (else it may still grow, while an
/// answer streams, and its highlighting is not kept).
pub fn highlight(lines: &[&str], lang: &str, last_complete: bool, theme: &Theme) -> Option<StyledLines> {
    if !theme.color || lines.is_empty() {
        return None;
    }
    let mut bytes = 0;
    for line in lines {
        bytes += line.len() + 1;
        if line.len() > MAX_LINE_BYTES || bytes > MAX_BLOCK_BYTES {
            return None;
        }
    }
    let syntax = syntax_for(lang)?;
    let code_theme = code_theme(theme.name);
    let highlighter = Highlighter::new(code_theme);
    let complete = if last_complete { lines } else { &lines[..lines.len() - 1] };
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        // The longest cached progress of this syntax and theme whose lines start this block.
        let found = blocks
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.syntax == syntax.name
                    && p.theme == *theme
                    && p.done.len() <= complete.len()
                    && p.done.iter().zip(complete).all(|(a, b)| a == b)
            })
            .max_by_key(|(_, p)| p.done.len())
            .map(|(i, _)| i);
        let mut progress = match found {
            Some(i) => blocks.remove(i),
            None => Progress {
                syntax: &syntax.name,
                theme: *theme,
                done: Vec::new(),
                styled: Vec::new(),
                parse: ParseState::new(syntax),
                highlight: HighlightState::new(&highlighter, ScopeStack::new()),
            },
        };
        for line in &complete[progress.done.len()..] {
            let styled = highlight_line(line, &mut progress.parse, &mut progress.highlight, &highlighter, theme);
            progress.styled.push(styled);
            progress.done.push((*line).to_owned());
        }
        let mut out = progress.styled[..complete.len()].to_vec();
        if !last_complete {
            // The last line may still grow (a streamed block): highlighted on copies of the state.
            let (mut parse, mut state) = (progress.parse.clone(), progress.highlight.clone());
            out.push(highlight_line(lines[lines.len() - 1], &mut parse, &mut state, &highlighter, theme));
        }
        blocks.insert(0, progress);
        blocks.truncate(CACHED_BLOCKS);
        Some(out)
    })
}

fn highlight_line(
    line: &str,
    parse: &mut ParseState,
    state: &mut HighlightState,
    highlighter: &Highlighter<'_>,
    theme: &Theme,
) -> Vec<(String, Style)> {
    // The syntaxes expect each line with its newline.
    let with_newline = format!("{line}\n");
    let Ok(ops) = parse.parse_line(&with_newline, syntaxes()) else {
        return vec![(line.to_owned(), Style::default())];
    };
    let plain = highlighter.get_default().foreground;
    let mut pieces: Vec<(String, Style)> = Vec::new();
    for (syn_style, text) in HighlightIterator::new(state, &ops, &with_newline, highlighter) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        let mut style = Style::default();
        if syn_style.foreground != plain {
            style = style.fg(terminal_color(syn_style.foreground, theme));
        }
        if syn_style.font_style.contains(FontStyle::BOLD) {
            style = style.add_modifier(Modifier::BOLD);
        }
        if syn_style.font_style.contains(FontStyle::ITALIC) {
            style = style.add_modifier(Modifier::ITALIC);
        }
        if syn_style.font_style.contains(FontStyle::UNDERLINE) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        match pieces.last_mut() {
            Some((last, last_style)) if *last_style == style => last.push_str(text),
            _ => pieces.push((text.to_owned(), style)),
        }
    }
    pieces
}

/// A theme colour made readable on the theme's kind of background (pale colours darkened for a
/// light terminal, dark ones lightened for a dark terminal), in 256 colours unless the terminal
/// has true colour.
fn terminal_color(color: SynColor, theme: &Theme) -> Color {
    let (r, g, b) = (f32::from(color.r), f32::from(color.g), f32::from(color.b));
    let luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0;
    let (r, g, b) = match theme.name {
        ThemeName::Light if luminance > 0.5 => {
            let k = 0.5 / luminance;
            (r * k, g * k, b * k)
        }
        ThemeName::Dark if luminance < 0.4 => {
            let t = (0.4 - luminance) / (1.0 - luminance);
            (r + (255.0 - r) * t, g + (255.0 - g) * t, b + (255.0 - b) * t)
        }
        _ => (r, g, b),
    };
    // In 0..=255 by construction; `as` saturates anyway.
    let (r, g, b) = (r.round() as u8, g.round() as u8, b.round() as u8);
    if theme.truecolor {
        Color::Rgb(r, g, b)
    } else {
        let level = |c: u8| (u16::from(c) * 5 + 127) / 255;
        Color::Indexed((16 + 36 * level(r) + 6 * level(g) + level(b)) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours(lines: &StyledLines) -> usize {
        let mut seen: Vec<Color> = lines.iter().flatten().filter_map(|(_, s)| s.fg).collect();
        seen.sort_by_key(|c| format!("{c:?}"));
        seen.dedup();
        seen.len()
    }

    #[test]
    fn the_common_languages_are_coloured() {
        let theme = Theme::new(ThemeName::Dark, true);
        let samples = [
            ("rust", "fn main() { let x = \"s\"; } // c"),
            ("rs", "fn main() { let x = \"s\"; }"),
            ("python", "def f(x):\n    return \"s\"  # c"),
            ("py", "import os\nx = 'a'"),
            ("js", "function f() { return 'a'; } // c"),
            ("javascript", "const x = 1; // c"),
            ("ts", "const x: number = 1; // c"),
            ("typescript", "interface A { b: string }"),
            ("go", "func main() { x := \"s\" } // c"),
            ("c", "int main(void) { return 0; } /* c */"),
            ("cpp", "#include <x>\nint main() { return 0; }"),
            ("c++", "class A { public: int x; };"),
            ("java", "public class A { int x = 1; }"),
            ("bash", "echo \"hi\" # c"),
            ("sh", "if [ -f x ]; then echo 1; fi"),
            ("shell", "export A=1 # c"),
            ("sql", "SELECT a FROM t WHERE b = 'c';"),
            ("json", "{\"a\": 1, \"b\": true}"),
            ("yaml", "a: 1\nb: \"c\" # d"),
            ("toml", "[a]\nb = \"c\" # d"),
            ("html", "<p class=\"a\">b</p>"),
            ("css", "p { color: red; }"),
            ("diff", "--- a\n+++ b\n-old\n+new"),
        ];
        for (lang, code) in samples {
            let lines: Vec<&str> = code.split('\n').collect();
            let styled = highlight(&lines, lang, true, &theme).unwrap_or_else(|| panic!("{lang} is not highlighted"));
            assert!(colours(&styled) >= 2, "{lang}: {styled:?}");
            let text: Vec<String> = styled.iter().map(|l| l.iter().map(|(t, _)| t.as_str()).collect()).collect();
            assert_eq!(text, lines, "{lang}: the text is unchanged");
        }
    }

    #[test]
    fn no_colour_and_unknown_languages_stay_plain() {
        assert!(highlight(&["fn main() {}"], "rust", true, &Theme::new(ThemeName::Dark, false)).is_none());
        assert!(highlight(&["fn main() {}"], "no-such-language", true, &Theme::new(ThemeName::Dark, true)).is_none());
        assert!(highlight(&["fn main() {}"], "", true, &Theme::new(ThemeName::Dark, true)).is_none());
    }

    #[test]
    fn huge_blocks_and_huge_lines_stay_plain() {
        let theme = Theme::new(ThemeName::Dark, true);
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        assert!(highlight(&["fn a() {}", &long], "rust", true, &theme).is_none());
        let many = vec!["let x = 1;"; MAX_BLOCK_BYTES / 10];
        assert!(highlight(&many, "rust", true, &theme).is_none());
        assert!(highlight(&many[..1000], "rust", true, &theme).is_some());
    }

    #[test]
    fn a_growing_block_resumes_and_matches_a_fresh_highlight() {
        let theme = Theme::new(ThemeName::Light, true);
        let code = "/* a comment\nstill comment */\nfn f() -> u8 {\n    \"s\".len() as u8\n}";
        let lines: Vec<&str> = code.split('\n').collect();
        let mut grown = None;
        for n in 1..=lines.len() {
            // Each line arrives in two pieces: first half, then whole.
            let half = &lines[n - 1][..lines[n - 1].len() / 2];
            let mut partial = lines[..n - 1].to_vec();
            partial.push(half);
            highlight(&partial, "rust", false, &theme);
            grown = highlight(&lines[..n], "rust", true, &theme);
        }
        BLOCKS.with(|b| b.borrow_mut().clear());
        assert_eq!(grown, highlight(&lines, "rust", true, &theme));
        // Inside the multi-line comment, the second line is coloured as a comment, like the first.
        let styled = grown.unwrap();
        assert_eq!(styled[0][0].1, styled[1][0].1);
    }

    /// Peak resident memory of this process so far, in KiB (Linux).
    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// The one-off cost of the first code block (loading the syntaxes and a theme) and of later ones:
    /// `cargo test --release --lib tui::highlight::tests::first_block_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn first_block_cost() {
        let theme = Theme::new(ThemeName::Dark, true);
        let rss = peak_rss_kib();
        let code = ["fn main() {", "    let s = \"hi\"; // c", "}"];
        let start = std::time::Instant::now();
        assert!(highlight(&code, "rust", true, &theme).is_some());
        println!("first rust block: {:?}, peak RSS +{} KiB", start.elapsed(), peak_rss_kib() - rss);
        let start = std::time::Instant::now();
        for (i, lang) in ["python", "js", "go", "cpp", "java", "bash", "sql", "json", "yaml", "toml"].iter().enumerate()
        {
            let line = format!("x = {i} # y");
            assert!(highlight(&[line.as_str()], lang, true, &theme).is_some());
        }
        println!(
            "first block of ten more languages: {:?}, peak RSS now +{} KiB",
            start.elapsed(),
            peak_rss_kib() - rss
        );
        let lines: Vec<String> =
            (0..1000).map(|i| format!("    let v{i} = values.iter().map(|x| x * {i}).sum(); // step")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let start = std::time::Instant::now();
        highlight(&lines, "rust", true, &theme);
        println!("1,000 new Rust lines: {:?}", start.elapsed());
        let start = std::time::Instant::now();
        highlight(&lines, "rust", true, &theme);
        println!("the same block again (cached): {:?}", start.elapsed());
    }

    #[test]
    fn colours_are_readable_on_their_background_and_fit_256_colours() {
        let white = SynColor { r: 250, g: 250, b: 250, a: 255 };
        let black = SynColor { r: 10, g: 10, b: 10, a: 255 };
        let light = Theme::new(ThemeName::Light, true);
        let Color::Rgb(r, g, b) = terminal_color(white, &light) else { panic!() };
        assert!(u16::from(r) + u16::from(g) + u16::from(b) < 3 * 140, "{r} {g} {b}");
        let Color::Rgb(r, g, b) = terminal_color(black, &Theme::new(ThemeName::Dark, true)) else { panic!() };
        assert!(u16::from(r) + u16::from(g) + u16::from(b) > 3 * 90, "{r} {g} {b}");
        let no_truecolor = Theme { truecolor: false, ..light };
        assert!(matches!(terminal_color(black, &no_truecolor), Color::Indexed(16..=231)));
    }
}
