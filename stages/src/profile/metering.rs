//! Checks a party's metering (the JSON lines `snni party` prints) before it is stored:
//! one layer line per layer of the expected network, then a run line with its digest.

use serde_json::Value;

/// What the profile stage needs from a party's run line.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's total wall time in seconds (setup and inference).
    pub total_wall_s: f64,
    /// The HE polynomial degree N.
    pub he_degree: u64,
}

/// Checks `bytes` as the metering of `party` for a network with `layers` layers and digest
/// `digest`; returns the run summary or what is wrong.
pub fn check(bytes: &[u8], party: &str, digest: &str, layers: usize) -> Result<RunSummary, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| format!("{party} wrote non-UTF-8 metering"))?;
    let mut seen = vec![false; layers];
    let mut run = None;
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: Value = serde_json::from_str(line)
            .map_err(|e| format!("{party} metering line {}: {e}", number + 1))?;
        if value["party"] != party {
            return Err(format!(
                "{party} metering line {} is from party {}",
                number + 1,
                value["party"]
            ));
        }
        match value["record"].as_str() {
            Some("layer") => {
                let index = value["index"].as_u64().map(|i| i as usize);
                match index.and_then(|i| seen.get_mut(i)) {
                    Some(slot) if !*slot => *slot = true,
                    Some(_) => {
                        return Err(format!(
                            "{party} metering has layer {} twice",
                            value["index"]
                        ))
                    }
                    None => {
                        return Err(format!(
                            "{party} metering has layer {} but the network has {layers}",
                            value["index"]
                        ))
                    }
                }
            }
            Some("run") => run = Some(value),
            _ => {
                return Err(format!(
                    "{party} metering line {} is neither a layer nor a run record",
                    number + 1
                ))
            }
        }
    }
    let run = run.ok_or_else(|| format!("{party} metering has no run record (did it finish?)"))?;
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!("{party} metering lacks layer {missing}"));
    }
    if run["digest"] != digest {
        return Err(format!(
            "{party} ran network {} but the profile expected {digest}",
            run["digest"]
        ));
    }
    Ok(RunSummary {
        total_wall_s: run["total"]["wall_s"].as_f64().unwrap_or(0.0),
        he_degree: run["he"]["degree"].as_u64().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(layers: &[u64], digest: &str) -> String {
        let mut text: String = layers
            .iter()
            .map(|i| format!("{{\"record\":\"layer\",\"party\":\"client\",\"index\":{i}}}\n"))
            .collect();
        text.push_str(&format!(
            "{{\"record\":\"run\",\"party\":\"client\",\"digest\":\"{digest}\",\"he\":{{\"degree\":8192}},\"total\":{{\"wall_s\":1.5}}}}\n"
        ));
        text
    }

    #[test]
    fn accepts_a_complete_run() {
        let summary = check(lines(&[1, 0, 2], "d").as_bytes(), "client", "d", 3).unwrap();
        assert_eq!(summary.he_degree, 8192);
        assert_eq!(summary.total_wall_s, 1.5);
    }

    #[test]
    fn rejects_missing_extra_duplicate_and_foreign_lines() {
        let err = |text: String| check(text.as_bytes(), "client", "d", 3).unwrap_err();
        assert!(err(lines(&[0, 2], "d")).contains("lacks layer 1"));
        assert!(err(lines(&[0, 1, 2, 3], "d")).contains("has layer 3"));
        assert!(err(lines(&[0, 1, 1, 2], "d")).contains("twice"));
        assert!(err(lines(&[0, 1, 2], "x")).contains("expected d"));
        assert!(err(lines(&[0, 1, 2], "d").replace("client", "server")).contains("from party"));
        let truncated = lines(&[0, 1, 2], "d");
        let cut = &truncated[..truncated.rfind("{\"record\":\"run\"").unwrap()];
        assert!(err(cut.to_string()).contains("no run record"));
    }
}
