//! Turns a terminal capture with colours (`tmux capture-pane -e -p`) on stdin into an SVG
//! image on stdout, for the README's screenshots (`scripts/screenshots.sh`).

use std::io::{Read, Write};

fn main() -> std::io::Result<()> {
    let mut capture = String::new();
    std::io::stdin().read_to_string(&mut capture)?;
    // tmux ends every line with a reset; trailing blanks would only widen the picture.
    let lines: Vec<&str> = capture.lines().map(str::trim_end).collect();
    let svg = anstyle_svg::Term::new()
        .bg_color(anstyle::RgbColor(0x1e, 0x1e, 0x2e).into())
        .fg_color(anstyle::RgbColor(0xcd, 0xd6, 0xf4).into())
        .render_svg(&lines.join("\n"));
    std::io::stdout().write_all(svg.as_bytes())
}
