//! One party's metering as the engine writes it (`snni infer --json`): a `layer` JSON line
//! per layer, then one `run` line. [`PartyLines::parse`] keys the layer lines by index, so
//! rows are never paired by position, and rejects duplicates and stray lines.
//!
//! The structs mirror `snni_engine::runtime::{LayerRecord, RunRecord}` and read only the
//! fields the dataset uses; unknown fields are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use snni_engine::network::{OpKind, Shape};

// The lines are the engine's own records: read them with its types and version.
pub use snni_engine::runtime::{Measured, ProtocolCounts as Counts, RECORD_VERSION};

/// The HE plan counts of a conv, fc or batch-norm layer.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
pub struct Linear {
    /// Ciphertexts the client sends.
    pub input_cts: u64,
    /// Ciphertexts the server returns.
    pub output_cts: u64,
    /// Ciphertext × plaintext products.
    pub ct_pt_products: u64,
    /// Weight polynomials encoded.
    pub weight_polys: u64,
    /// HE bytes client → server.
    pub bytes_client_to_server: u64,
    /// HE bytes server → client.
    pub bytes_server_to_client: u64,
}

/// One `layer` line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LayerLine {
    /// Record version.
    pub version: u32,
    /// `server` or `client`.
    pub party: String,
    /// 0-based layer index.
    pub index: usize,
    /// Layer name.
    pub name: String,
    /// Layer kind.
    pub kind: OpKind,
    /// Output shape.
    pub output: Shape,
    /// Time and traffic.
    #[serde(flatten)]
    pub measured: Measured,
    /// Planned counts.
    pub counts: Counts,
    /// The HE plan, for linear layers.
    pub linear: Option<Linear>,
}

/// The HE part of the `run` line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct He {
    /// Polynomial degree N.
    pub degree: u64,
}

/// The `run` line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunLine {
    /// Record version.
    pub version: u32,
    /// `server` or `client`.
    pub party: String,
    /// The network's digest.
    pub digest: String,
    /// Share bit length ℓ.
    pub ell: u64,
    /// Fixed-point scale.
    pub scale: u64,
    /// HE parameters.
    pub he: He,
    /// Worker threads.
    pub threads: u64,
    /// Number of layers.
    pub layers: usize,
    /// Setup phase.
    pub setup: Measured,
    /// Layers and output exchange.
    pub inference: Measured,
    /// Setup plus inference.
    pub total: Measured,
}

#[derive(Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line {
    Layer(Box<LayerLine>),
    Run(Box<RunLine>),
}

/// One party's lines, layers keyed by index.
#[derive(Debug, Clone)]
pub struct PartyLines {
    /// Layer lines by index.
    pub layers: BTreeMap<usize, LayerLine>,
    /// The run line.
    pub run: RunLine,
}

impl PartyLines {
    /// Reads the JSON lines of `party`; the error says what is wrong, for the caller to
    /// wrap with the shard's name.
    pub fn parse(text: &str, party: &str) -> Result<PartyLines, String> {
        let mut layers = BTreeMap::new();
        let mut run = None;
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Line = serde_json::from_str(line)
                .map_err(|err| format!("{party} line {number}: {err}"))?;
            let (version, line_party) = match &parsed {
                Line::Layer(layer) => (layer.version, &layer.party),
                Line::Run(run) => (run.version, &run.party),
            };
            if version != RECORD_VERSION {
                return Err(format!(
                    "{party} line {number}: record version {version}, this snni reads {RECORD_VERSION}"
                ));
            }
            if line_party != party {
                return Err(format!(
                    "{party} line {number}: the line belongs to party `{line_party}`"
                ));
            }
            if run.is_some() {
                return Err(format!("{party} line {number}: a line after the run line"));
            }
            match parsed {
                Line::Layer(layer) => {
                    let index = layer.index;
                    if let Some(first) = layers.insert(index, *layer) {
                        return Err(format!(
                            "{party} line {number}: duplicate layer index {index} (`{}`)",
                            first.name
                        ));
                    }
                }
                Line::Run(line) => run = Some(*line),
            }
        }
        let run = run.ok_or_else(|| format!("the {party} lines have no run line"))?;
        Ok(PartyLines { layers, run })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = include_str!("fixtures/mini.server.jsonl");

    #[test]
    fn parses_fixture_by_index() {
        let lines = PartyLines::parse(SERVER, "server").unwrap();
        assert_eq!(lines.layers.len(), 4);
        assert_eq!(lines.run.layers, 4);
        assert_eq!(lines.layers[&0].kind, OpKind::Conv);
        assert!(lines.layers[&0].linear.is_some());
        assert!(lines.layers[&1].linear.is_none());
    }

    #[test]
    fn rejects_wrong_party_and_missing_run() {
        let err = PartyLines::parse(SERVER, "client").unwrap_err();
        assert!(err.contains("belongs to party `server`"), "{err}");
        let without_run: String = SERVER.lines().take(4).map(|l| format!("{l}\n")).collect();
        let err = PartyLines::parse(&without_run, "server").unwrap_err();
        assert!(err.contains("no run line"), "{err}");
    }
}
