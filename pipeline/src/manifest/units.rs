//! Quantities with units in manifests: bandwidth (`7gbit`) and durations (`0.5ms`).

/// Parses a rate such as `7gbit`, `380mbit`, `100kbit` or `1.5gbit` into bits per second.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let units: [(&str, f64); 4] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
    for (suffix, factor) in units {
        if let Some(number) = lower.strip_suffix(suffix) {
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number followed by a unit"))?;
            if !value.is_finite() {
                return Err(format!("`{text}` is not a finite number"));
            }
            if value <= 0.0 {
                return Err(format!("`{text}` must be positive"));
            }
            let bits = value * factor;
            if !(1e3..=1e12).contains(&bits) {
                return Err(format!("`{text}` is outside 1kbit..1000gbit"));
            }
            return Ok(bits.round() as u64);
        }
    }
    Err(format!("`{text}` has no unit (gbit, mbit, kbit or bit)"))
}

/// Parses a duration such as `0.5ms`, `10ms`, `250us` or `1s` into microseconds.
pub fn parse_duration_us(text: &str) -> Result<f64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let units: [(&str, f64); 3] = [("us", 1.0), ("ms", 1e3), ("s", 1e6)];
    for (suffix, factor) in units {
        if let Some(number) = lower.strip_suffix(suffix) {
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number followed by a unit"))?;
            if !value.is_finite() {
                return Err(format!("`{text}` is not a finite number"));
            }
            if value < 0.0 {
                return Err(format!("`{text}` must not be negative"));
            }
            let us = value * factor;
            if us > 10e6 {
                return Err(format!("`{text}` is longer than 10s"));
            }
            return Ok(us);
        }
    }
    Err(format!("`{text}` has no unit (us, ms or s)"))
}

/// Parses an interval such as `500ms`, `30s`, `5m`, `2h` or `1d` (executor timings).
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let lower = text.trim().to_ascii_lowercase();
    let units: [(&str, f64); 5] = [
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
        ("d", 86400.0),
    ];
    for (suffix, factor) in units {
        if let Some(number) = lower.strip_suffix(suffix) {
            let value: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number followed by a unit"))?;
            if !value.is_finite() || value < 0.0 {
                return Err(format!("`{text}` must be a finite, non-negative duration"));
            }
            let seconds = value * factor;
            if seconds > 30.0 * 86400.0 {
                return Err(format!("`{text}` is longer than 30 days"));
            }
            return Ok(std::time::Duration::from_secs_f64(seconds));
        }
    }
    Err(format!("`{text}` has no unit (ms, s, m, h or d)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_study_settings() {
        assert_eq!(parse_bandwidth("7gbit"), Ok(7_000_000_000));
        assert_eq!(parse_bandwidth("380mbit"), Ok(380_000_000));
        assert_eq!(parse_duration_us("0.5ms"), Ok(500.0));
        assert_eq!(parse_duration_us("10ms"), Ok(10_000.0));
        assert!(parse_bandwidth("7gb").is_err());
        assert!(parse_duration_us("fast").is_err());
        assert!(parse_bandwidth("-1mbit")
            .unwrap_err()
            .contains("must be positive"));
        assert!(parse_bandwidth("0mbit")
            .unwrap_err()
            .contains("must be positive"));
        for text in ["NaNms", "infms", "-infms"] {
            let err = parse_duration_us(text).unwrap_err();
            assert!(err.contains("is not a finite number"), "{err}");
        }
        assert!(parse_duration_us("-1ms")
            .unwrap_err()
            .contains("must not be negative"));
        assert!(parse_bandwidth("nanmbit")
            .unwrap_err()
            .contains("not a finite"));
        assert_eq!(
            parse_interval("30s"),
            Ok(std::time::Duration::from_secs(30))
        );
        assert_eq!(
            parse_interval("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            parse_interval("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert!(parse_interval("NaNs").is_err());
        assert!(parse_interval("-1s").is_err());
        assert!(parse_interval("10").is_err());
    }
}
