//! Named styles for everything the interface draws, in a dark and a light variant, and with every
//! colour removed when `NO_COLOR` is set (attributes such as bold, reverse and underline stay).
//!
//! The theme in use is a value the caller holds (the interface's `App`, `ask`'s markdown printer)
//! and passes to every renderer, so a test that draws in light or without colour never affects another.

use ratatui::style::{Color, Modifier, Style};

pub use crate::config::ThemeName;

/// Every style the interface uses, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub name: ThemeName,
    /// False under `NO_COLOR`: no style carries a colour and code is not highlighted.
    pub color: bool,
    /// Whether code colours may use 24-bit colour (else the nearest of 256).
    pub truecolor: bool,
    /// Headings, hints, key names, the focused input's border, the selected message's marker.
    pub accent: Style,
    /// Secondary text: status notes, empty-state hints, idle borders, snippets.
    pub muted: Style,
    pub error: Style,
    /// Notices, a streaming tab's mark, the input border while a question is open.
    pub warning: Style,
    /// Confirmations ("copied 120 characters").
    pub success: Style,
    pub user: Style,
    pub model: Style,
    pub inline_code: Style,
    pub link: Style,
    pub status_bar: Style,
    /// Search matches in history snippets.
    pub matched: Style,
}

impl Theme {
    pub fn new(name: ThemeName, color: bool) -> Theme {
        let theme = match name {
            ThemeName::Dark => Theme {
                name,
                color,
                truecolor: true,
                accent: Style::new().fg(Color::Cyan),
                // Light enough to read on a dark background (ANSI dark grey is not, on many palettes).
                muted: Style::new().fg(Color::Indexed(246)),
                error: Style::new().fg(Color::LightRed),
                warning: Style::new().fg(Color::Yellow),
                success: Style::new().fg(Color::Green),
                user: Style::new().fg(Color::Green),
                model: Style::new().fg(Color::Magenta),
                inline_code: Style::new().fg(Color::Yellow),
                link: Style::new().fg(Color::LightBlue).add_modifier(Modifier::UNDERLINED),
                status_bar: Style::new().fg(Color::White).bg(Color::Indexed(238)),
                matched: Style::new().fg(Color::Black).bg(Color::Yellow),
            },
            // Dark, saturated colours from the 256-colour cube: yellow, white and light grey text
            // would vanish on a light background.
            ThemeName::Light => Theme {
                name,
                color,
                truecolor: true,
                accent: Style::new().fg(Color::Indexed(25)),
                muted: Style::new().fg(Color::Indexed(242)),
                error: Style::new().fg(Color::Indexed(160)),
                warning: Style::new().fg(Color::Indexed(130)),
                success: Style::new().fg(Color::Indexed(28)),
                user: Style::new().fg(Color::Indexed(28)),
                model: Style::new().fg(Color::Indexed(90)),
                inline_code: Style::new().fg(Color::Indexed(124)),
                link: Style::new().fg(Color::Indexed(25)).add_modifier(Modifier::UNDERLINED),
                status_bar: Style::new().fg(Color::Black).bg(Color::Indexed(252)),
                matched: Style::new().fg(Color::Black).bg(Color::Indexed(222)),
            },
        };
        if color { theme } else { theme.without_color() }
    }

    /// The same theme with every colour removed and a stand-in attribute where colour alone
    /// carried the meaning.
    fn without_color(self) -> Theme {
        let strip = |style: Style| Style { fg: None, bg: None, underline_color: None, ..style };
        Theme {
            accent: strip(self.accent),
            muted: strip(self.muted).add_modifier(Modifier::DIM),
            error: strip(self.error).add_modifier(Modifier::BOLD),
            warning: strip(self.warning),
            success: strip(self.success),
            user: strip(self.user),
            model: strip(self.model),
            inline_code: strip(self.inline_code),
            link: strip(self.link),
            status_bar: strip(self.status_bar).add_modifier(Modifier::REVERSED),
            matched: strip(self.matched).add_modifier(Modifier::REVERSED),
            ..self
        }
    }

    /// The named theme as this terminal shows it: colourless under `NO_COLOR`, code colours in
    /// 24-bit colour when the terminal says it shows them.
    pub fn for_terminal(name: ThemeName) -> Theme {
        Theme { truecolor: truecolor_terminal(), ..Theme::new(name, color_allowed()) }
    }

    /// The other theme, keeping the colour setting.
    pub fn toggled(self) -> Theme {
        let name = match self.name {
            ThemeName::Dark => ThemeName::Light,
            ThemeName::Light => ThemeName::Dark,
        };
        Theme { truecolor: self.truecolor, ..Theme::new(name, self.color) }
    }
}

/// Whether colours are allowed: <https://no-color.org> (a `NO_COLOR` that is set and not empty).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Whether the terminal says it shows 24-bit colour (`COLORTERM=truecolor` or `24bit`).
pub fn truecolor_terminal() -> bool {
    std::env::var("COLORTERM").is_ok_and(|value| matches!(value.as_str(), "truecolor" | "24bit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn styles(theme: &Theme) -> [Style; 11] {
        [
            theme.accent,
            theme.muted,
            theme.error,
            theme.warning,
            theme.success,
            theme.user,
            theme.model,
            theme.inline_code,
            theme.link,
            theme.status_bar,
            theme.matched,
        ]
    }

    #[test]
    fn without_color_no_style_has_a_colour() {
        for name in [ThemeName::Dark, ThemeName::Light] {
            for style in styles(&Theme::new(name, false)) {
                assert_eq!((style.fg, style.bg), (None, None), "{name:?}: {style:?}");
            }
        }
        // Attributes stay.
        assert!(Theme::new(ThemeName::Dark, false).link.add_modifier.contains(Modifier::UNDERLINED));
    }

    #[test]
    fn the_light_theme_has_no_pale_text_and_the_dark_none_dark() {
        let pale = [Color::White, Color::Gray, Color::Yellow, Color::LightYellow, Color::LightCyan];
        let dark = [Color::Black, Color::DarkGray, Color::Blue];
        let light = Theme::new(ThemeName::Light, true);
        let night = Theme::new(ThemeName::Dark, true);
        for style in styles(&light) {
            // Text on its own background (the status bar and matches bring their own) must not be pale.
            if style.bg.is_none() {
                assert!(!style.fg.is_some_and(|c| pale.contains(&c)), "light: {style:?}");
            }
        }
        for style in styles(&night) {
            if style.bg.is_none() {
                assert!(!style.fg.is_some_and(|c| dark.contains(&c)), "dark: {style:?}");
            }
        }
    }

    #[test]
    fn toggling_switches_dark_and_light_and_keeps_no_color() {
        let theme = Theme::new(ThemeName::Dark, false).toggled();
        assert_eq!((theme.name, theme.color), (ThemeName::Light, false));
        assert_eq!(theme.toggled().name, ThemeName::Dark);
    }
}
