//! JSON encoding of the values kept in sled, with the format-version check every read makes.
//!
//! Every stored value carries a `format_version`. Decoding first tries the full type (the
//! fast path taken by every cache lookup); only when that fails, or the version differs
//! from [`FORMAT_VERSION`], does it look at the version alone, so a value written by a newer
//! snni is reported as such instead of as garbage.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::FORMAT_VERSION;

/// A stored value that says which format version wrote it.
pub(crate) trait Versioned {
    /// The value's `format_version` field.
    fn format_version(&self) -> u32;
}

/// Just the version field of any stored value.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

/// Encodes a value for storage.
pub(crate) fn encode<T: Serialize>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Decode {
        what: what(),
        source,
    })
}

/// Decodes a stored value, rejecting any format version other than [`FORMAT_VERSION`].
///
/// `what` names the value in errors and is only called on failure.
pub(crate) fn decode<T: DeserializeOwned + Versioned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(value) if value.format_version() == FORMAT_VERSION => Ok(value),
        Ok(value) => Err(unsupported(what(), value.format_version())),
        Err(source) => match serde_json::from_slice::<VersionProbe>(bytes) {
            Ok(probe) if probe.format_version != FORMAT_VERSION => {
                Err(unsupported(what(), probe.format_version))
            }
            _ => Err(StoreError::Decode {
                what: what(),
                source,
            }),
        },
    }
}

fn unsupported(what: String, found: u32) -> StoreError {
    StoreError::UnsupportedFormat {
        what,
        found,
        supported: FORMAT_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Thing {
        format_version: u32,
        name: String,
    }

    impl Versioned for Thing {
        fn format_version(&self) -> u32 {
            self.format_version
        }
    }

    #[test]
    fn round_trips_the_current_version() {
        let thing = Thing {
            format_version: FORMAT_VERSION,
            name: "a".into(),
        };
        let bytes = encode(&thing, || "thing".into()).unwrap();
        assert_eq!(decode::<Thing>(&bytes, || "thing".into()).unwrap(), thing);
    }

    #[test]
    fn newer_version_is_reported_even_when_the_shape_changed() {
        let bytes = br#"{"format_version": 7, "renamed_field": [1, 2]}"#;
        let err = decode::<Thing>(bytes, || "thing x".into()).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 7, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("thing x has format version 7"),
            "{message}"
        );
        assert!(message.contains("upgrade snni"), "{message}");
    }

    #[test]
    fn newer_version_with_the_same_shape_is_rejected_too() {
        let bytes = br#"{"format_version": 2, "name": "a"}"#;
        let err = decode::<Thing>(bytes, || "thing".into()).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 2, .. }),
            "{err:?}"
        );
    }

    /// Fuzz target (proptest): arbitrary bytes, and valid records with bytes flipped or cut,
    /// never panic the decoders of any stored value; they decode or give an error.
    /// `PROPTEST_CASES=N` sets the cases (BENCHMARKS.md, "Fuzzing").
    mod fuzz {
        use proptest::prelude::*;

        use super::super::decode;
        use crate::failure::Failure;
        use crate::record::Record;
        use crate::stage_state::StageState;
        use crate::table::TableEntry;
        use crate::{Digest, Output};

        fn valid_record() -> Vec<u8> {
            let record = Record::new(Digest::of(b"fp"), "stage", Some("shard".into()))
                .with_output("a", Output::blob(Digest::of(b"a"), 1, "text/plain"));
            serde_json::to_vec(&record).unwrap()
        }

        fn bytes() -> impl Strategy<Value = Vec<u8>> {
            let damaged = (
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(flips, cut)| {
                    let mut bytes = valid_record();
                    for (at, xor) in flips {
                        let at = at.index(bytes.len());
                        bytes[at] ^= xor;
                    }
                    bytes.truncate(cut.index(bytes.len() + 1));
                    bytes
                });
            prop_oneof![prop::collection::vec(any::<u8>(), 0..256), damaged]
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn stored_values_decode_or_fail_cleanly(bytes in bytes()) {
                let what = || "fuzz".to_string();
                let _ = decode::<Record>(&bytes, what);
                let _ = decode::<TableEntry>(&bytes, what);
                let _ = decode::<Failure>(&bytes, what);
                let _ = decode::<StageState>(&bytes, what);
                let _ = String::from_utf8_lossy(&bytes).parse::<Digest>();
            }
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let err = decode::<Thing>(b"not json", || "thing".into()).unwrap_err();
        assert!(matches!(err, StoreError::Decode { .. }), "{err:?}");
    }
}
