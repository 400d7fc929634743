//! The registry of stage kinds a manifest may name.

use crate::{
    DatasetKind, EvaluateKind, NetworksKind, ProfileKind, ReferenceKind, SearchKind,
    SequenceSearchKind, SplitKind, StageKind, SynthesizeKind, TrainKind, WholeKind,
};

/// Every stage kind, in the order `snni` lists them.
pub static KINDS: &[&dyn StageKind] = &[
    &SynthesizeKind,
    &ReferenceKind,
    &NetworksKind,
    &ProfileKind,
    &DatasetKind,
    &SplitKind,
    &SearchKind,
    &TrainKind,
    &EvaluateKind,
    &SequenceSearchKind,
    &WholeKind,
];

/// Looks a kind up by its manifest name.
pub fn kind_by_name(name: &str) -> Option<&'static dyn StageKind> {
    KINDS.iter().copied().find(|kind| kind.name() == name)
}

/// The names of all kinds, for error hints.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|kind| kind.name()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::kind::{canonical, decode};
    use crate::networks::tests::YamlFiles;
    use crate::{CheckContext, Kind, NetworkFiles, Setting};

    /// Checks `raw` with `kind`, decodes the canonical JSON back and serialises it again:
    /// the JSON must not change, or a cluster node (which decodes what the coordinator
    /// checked) would work with other parameters than the fingerprint says.
    fn round_trip<K: Kind>(kind: &K, raw: Value) {
        round_trip_reading(kind, raw, None);
    }

    /// [`round_trip`] for a kind that reads network files.
    fn round_trip_reading<K: Kind>(kind: &K, raw: Value, files: Option<&dyn NetworkFiles>) {
        let settings = Setting::builtins();
        let ctx = CheckContext {
            settings: &settings,
            files,
        };
        let checked = kind
            .check(&raw, &ctx)
            .unwrap_or_else(|issues| panic!("{} rejects {raw}: {issues:?}", K::NAME));
        let json = canonical::<K>(&checked).unwrap();
        let decoded = decode::<K>(&json).unwrap_or_else(|e| panic!("{}: {e}", K::NAME));
        assert_eq!(canonical::<K>(&decoded).unwrap(), json, "{}", K::NAME);
        assert_eq!(
            (kind as &dyn StageKind).check_params(&raw, &ctx).unwrap(),
            json,
            "{}",
            K::NAME
        );
    }

    #[test]
    fn every_kind_decodes_its_canonical_params_to_the_same_json() {
        round_trip(&SynthesizeKind, json!({"count": 3}));
        round_trip(
            &SynthesizeKind,
            json!({"count": 12, "families": ["conv"], "layers": {"min": 2, "max": 5}}),
        );
        round_trip(&ReferenceKind, Value::Null);
        round_trip(&ReferenceKind, json!({"networks": ["squeezenet"]}));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.yaml"), crate::networks::tests::TINY).unwrap();
        let files = YamlFiles(dir.path().to_path_buf());
        round_trip_reading(&NetworksKind, json!({"files": ["tiny.yaml"]}), Some(&files));
        round_trip(&ProfileKind, json!({}));
        round_trip(
            &ProfileKind,
            json!({"networks": ["synth"], "settings": ["local", "lan"], "cpus": [1, 0], "ot": "iknp"}),
        );
        round_trip(&DatasetKind, Value::Null);
        round_trip(&SplitKind, json!({"by": "row", "test": 0, "held_out": []}));
        round_trip(&SearchKind, json!({}));
        round_trip(
            &SearchKind,
            json!({"min_rows": 8, "max_trials": 2, "space": {"units": {"int": [8, 32], "step": 8}}}),
        );
        round_trip(&TrainKind, json!({"mlp": {"activation": "ReLU"}}));
        round_trip(&EvaluateKind, Value::Null);
        round_trip(&SequenceSearchKind, json!({"min_networks": 2}));
        round_trip(&WholeKind, json!({"rnn": {"cell": "lstm"}}));
        assert_eq!(KINDS.len(), 11, "a new kind needs a round trip here");
    }

    #[test]
    fn a_changed_canonical_value_is_refused_with_its_key() {
        let error = decode::<SplitKind>(
            &json!({"by": "network", "test": "most", "validation": 0.2, "held_out": []}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`test`"), "{error}");
    }
}
