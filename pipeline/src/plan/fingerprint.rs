//! Fingerprints: everything that affects a stage's or shard's outputs, hashed.
//!
//! A fingerprint covers the stage kind, its implementation version, its canonical
//! parameters, its seed and the output digests of the stages it needs — never paths,
//! modification times or run ids. serde_json maps are sorted (no `preserve_order`), so the
//! serialization is canonical.

use std::collections::BTreeMap;

use serde::Serialize;
use snni_artifacts::{Digest, Record};

/// Version of the fingerprint layout itself; bump to invalidate every cache entry.
const FINGERPRINT_FORMAT: u32 = 1;

/// The inputs of a stage (or, with `shard` set, of one shard).
#[derive(Debug, Clone, Serialize)]
pub struct Fingerprint<'a> {
    format: u32,
    /// Stage kind.
    pub kind: &'a str,
    /// Stage implementation version.
    pub version: u32,
    /// Canonical parameters (for a shard: the parameters shards depend on).
    pub params: &'a serde_json::Value,
    /// The stage seed.
    pub seed: u64,
    /// Output digest of each upstream stage, by name.
    pub upstream: &'a BTreeMap<String, Digest>,
    /// The shard key, for shard fingerprints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<&'a str>,
}

impl<'a> Fingerprint<'a> {
    /// The fingerprint of a stage.
    pub fn stage(
        kind: &'a str,
        version: u32,
        params: &'a serde_json::Value,
        seed: u64,
        upstream: &'a BTreeMap<String, Digest>,
    ) -> Self {
        Self {
            format: FINGERPRINT_FORMAT,
            kind,
            version,
            params,
            seed,
            upstream,
            shard: None,
        }
    }

    /// The fingerprint of one shard of a stage.
    pub fn shard(self, shard_params: &'a serde_json::Value, shard: &'a str) -> Self {
        Self {
            params: shard_params,
            shard: Some(shard),
            ..self
        }
    }

    /// The blake3 digest of the canonical JSON form.
    pub fn digest(&self) -> Digest {
        let bytes = serde_json::to_vec(self).expect("fingerprint serializes to JSON");
        Digest::of(&bytes)
    }
}

/// The digest of a stage's outputs: what downstream fingerprints depend on.
pub fn output_digest(record: &Record) -> Digest {
    let outputs: BTreeMap<&str, String> = record
        .outputs
        .iter()
        .map(|(name, output)| (name.as_str(), output.digest().to_hex()))
        .collect();
    Digest::of(&serde_json::to_vec(&outputs).expect("digests serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_every_input() {
        let params = serde_json::json!({"count": 3, "a": [1, 2]});
        let upstream = BTreeMap::new();
        let base = Fingerprint::stage("synthesize", 1, &params, 7, &upstream).digest();
        assert_eq!(
            base,
            Fingerprint::stage("synthesize", 1, &params, 7, &upstream).digest()
        );
        assert_ne!(
            base,
            Fingerprint::stage("synthesize", 2, &params, 7, &upstream).digest()
        );
        assert_ne!(
            base,
            Fingerprint::stage("synthesize", 1, &params, 8, &upstream).digest()
        );
        let other = serde_json::json!({"count": 4, "a": [1, 2]});
        assert_ne!(
            base,
            Fingerprint::stage("synthesize", 1, &other, 7, &upstream).digest()
        );
        let mut up = BTreeMap::new();
        up.insert("synth".to_string(), Digest::of(b"x"));
        assert_ne!(
            base,
            Fingerprint::stage("synthesize", 1, &params, 7, &up).digest()
        );
        let shard = Fingerprint::stage("synthesize", 1, &params, 7, &upstream)
            .shard(&params, "s1")
            .digest();
        assert_ne!(base, shard);
    }

    #[test]
    fn key_order_does_not_matter() {
        let a: serde_json::Value = serde_json::from_str(r#"{"x": 1, "y": 2}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"y": 2, "x": 1}"#).unwrap();
        let upstream = BTreeMap::new();
        assert_eq!(
            Fingerprint::stage("k", 1, &a, 0, &upstream).digest(),
            Fingerprint::stage("k", 1, &b, 0, &upstream).digest()
        );
    }
}
