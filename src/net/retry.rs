//! The server's own delay before a retry, as HTTP and Google's APIs write it: `Retry-After`
//! (seconds or an HTTP date) and proto durations (`"26s"`, `"900ms"`).

use std::time::Duration;

/// Per-day quota, `limit: 0`, or a server delay longer than this is not worth waiting for.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// Parses a proto Duration string such as `"26s"`, `"0.5s"` or `"900ms"`.
pub fn parse_proto_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) =
        if let Some(ms) = text.strip_suffix("ms") { (ms, 0.001) } else { (text.strip_suffix('s')?, 1.0) };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value * scale))
}

/// `Retry-After` is either delta-seconds or an HTTP date.
pub fn parse_retry_after_header(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_durations_parse() {
        assert_eq!(parse_proto_duration("26s"), Some(Duration::from_secs(26)));
        assert_eq!(parse_proto_duration("0.539477544s"), Some(Duration::from_secs_f64(0.539477544)));
        assert_eq!(parse_proto_duration("900ms"), Some(Duration::from_millis(900)));
        assert_eq!(parse_proto_duration("soon"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }

    #[test]
    fn retry_after_header_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after_header("7"), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after_header(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
    }
}
