//! Terminal-hostile payloads (reliability.md §7 A): what a model could emit to attack the
//! terminal. The fake streams them; tests assert none reaches a terminal intact.

/// Each entry is one attack; together they are the corpus.
pub const HOSTILE_PAYLOADS: &[&str] = &[
    "\x1b]52;c;aGVsbG8=\x07",   // OSC 52 clipboard write, BEL-terminated
    "\x1b]52;c;aGVsbG8=\x1b\\", // OSC 52, ST-terminated
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", // OSC 8 hyperlink
    "\x1b]0;pwned title\x07",   // OSC 0 window title
    "\x1b]2;pwned\x07",         // OSC 2 title
    "\x1b[2J",                  // erase screen
    "\x1b[1A\x1b[2K",           // cursor up + erase line
    "\x1b[?1000h",              // mouse reporting on
    "\x1b[?2004l",              // bracketed paste off
    "\x1b[6n",                  // cursor position report (answers on stdin)
    "\x1b[21t",                 // title report
    "\x1bP+q544e\x1b\\",        // DCS XTGETTCAP
    "\x1b_apc payload\x1b\\",   // APC
    "\x1bc",                    // RIS full reset
    "\x1b]unterminated osc",    // unterminated OSC
    "\u{9b}31m",                // 8-bit CSI
    "\u{9d}0;c1 title\u{7}",    // 8-bit OSC
    "bell\x07",                 // BEL
    "back\x08\x08space",        // BS
    "over\rwrite",              // bare CR
    "\u{202e}txt.exe",          // RTL override
    "\u{2066}isolate\u{2069}",  // bidi isolate
    "zero\u{200b}width",        // ZWSP
    "\u{feff}bom",              // BOM / ZWNBSP
];

/// The whole corpus as one answer text, one payload per line, each between markers.
pub fn hostile_answer() -> String {
    let mut text = String::from("Here is some text.\n");
    for (i, payload) in HOSTILE_PAYLOADS.iter().enumerate() {
        text.push_str(&format!("[{i}:{payload}]\n"));
    }
    text.push_str("The end.\n");
    text
}
