//! Human-readable formats shared by the front ends: "3m ago", calendar dates, sizes, and how a
//! provider error is told ([`provider_error`]).

pub mod provider_error;

pub use provider_error::{human_duration, stored_sentence};

/// How a front end labels a message in state `status` (`None` for a plain complete one).
pub fn status_label(status: crate::domain::MessageStatus, cached: bool) -> Option<&'static str> {
    use crate::domain::MessageStatus;
    match status {
        MessageStatus::Complete if cached => Some("from cache"),
        MessageStatus::Complete => None,
        MessageStatus::Streaming => Some("writing…"),
        MessageStatus::Interrupted => Some("interrupted"),
        MessageStatus::Error => Some("failed"),
        MessageStatus::Blocked => Some("blocked"),
    }
}

/// `n` units of time ago, in the largest unit that fits ("3m ago", "2d ago").
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - then_ms).max(0) / 1000;
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        86_400..2_592_000 => format!("{}d ago", secs / 86_400),
        _ => date(then_ms),
    }
}

/// A UTC calendar date, YYYY-MM-DD (civil-from-days).
pub fn date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Untrusted text on one line, cut to at most `columns` terminal columns (wide characters
/// count two) with an ellipsis.
pub fn fit(text: &str, columns: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let line = crate::sanitize::one_line(text, usize::MAX);
    let total: usize = line.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= columns {
        return line;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > columns {
            break;
        }
        out.push(c);
        used += w;
    }
    if columns > 0 {
        out.push('…');
    }
    out
}

/// A size in bytes, in the largest binary unit that keeps it at least 1 ("812 B", "48.2 KiB").
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut size = n as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_counts_columns_not_characters() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("世界世界世界", 7), "世界世…");
        assert_eq!(fit("abcdefgh", 5), "abcd…");
        assert_eq!(fit("a\x1b[2Jb", 20), "a␛[2Jb");
    }

    #[test]
    fn dates_and_ages_read_well() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_000_000_000), "2026-11-18");
        assert_eq!(ago(0, 30_000), "just now");
        assert_eq!(ago(0, 3 * 60_000), "3m ago");
        assert_eq!(ago(0, 5 * 3_600_000), "5h ago");
        assert_eq!(ago(0, 2 * 86_400_000), "2d ago");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(49_357), "48.2 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200_000), "3.2 MiB");
    }
}
