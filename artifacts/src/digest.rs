//! [`Digest`]: the blake3 hash that names every blob, table and record in the store.
//!
//! A digest prints and parses as 64 lowercase hexadecimal characters and is serialised
//! the same way, so records stay readable when dumped as JSON.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A 32-byte blake3 digest: the address of a blob or table, or a stage fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Number of hexadecimal characters shown by [`Digest::short`].
    pub const SHORT_LEN: usize = 12;

    /// Hashes `bytes` with blake3.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The raw digest bytes (the key under which the store indexes it).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The full digest as 64 lowercase hexadecimal characters.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The first [`Digest::SHORT_LEN`] hexadecimal characters, for listings and logs.
    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(Self::SHORT_LEN);
        hex
    }

    /// Reads a digest from the 32 raw bytes of a database key.
    pub(crate) fn from_key(key: &[u8]) -> Option<Digest> {
        <[u8; 32]>::try_from(key).ok().map(Digest)
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&blake3::Hash::from_bytes(self.0).to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Digest, ParseDigestError> {
        // blake3 also accepts uppercase; the store only ever writes lowercase.
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseDigestError::new(text));
        }
        blake3::Hash::from_hex(text)
            .map(Digest::from)
            .map_err(|_| ParseDigestError::new(text))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&blake3::Hash::from_bytes(self.0).to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        struct HexVisitor;

        impl Visitor<'_> for HexVisitor {
            type Value = Digest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blake3 digest as 64 lowercase hexadecimal characters")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Digest, E> {
                text.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(HexVisitor)
    }
}

/// A digest could not be read from text.
#[derive(Debug, Error)]
#[error("invalid digest `{text}`: expected 64 hexadecimal characters (lowercase)")]
pub struct ParseDigestError {
    text: String,
}

impl ParseDigestError {
    pub(crate) fn new(text: &str) -> ParseDigestError {
        // Keep the message short even for a pasted blob of text.
        let text = text.chars().take(80).collect();
        ParseDigestError { text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let digest = Digest::of(b"hello");
        let hex = digest.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, blake3::hash(b"hello").to_hex().as_str());
        assert_eq!(hex.parse::<Digest>().unwrap(), digest);
        assert_eq!(digest.short(), &hex[..12]);
    }

    #[test]
    fn parse_rejects_bad_text() {
        for text in ["", "abc", &"g".repeat(64), &"A".repeat(64), &"a".repeat(65)] {
            let err = text.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains("64 hexadecimal"), "{err}");
        }
    }

    #[test]
    fn serde_uses_hex_strings() {
        let digest = Digest::of(b"x");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{digest}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        // Deserialising from an owned value must work too, not only from borrowed text.
        let value = serde_json::Value::String(digest.to_string());
        assert_eq!(serde_json::from_value::<Digest>(value).unwrap(), digest);
        assert!(serde_json::from_str::<Digest>("\"zz\"").is_err());
    }

    #[test]
    fn orders_by_bytes() {
        let low = Digest::from_bytes([0; 32]);
        let high = Digest::from_bytes([1; 32]);
        assert!(low < high);
        assert_eq!(Digest::from_key(high.as_bytes()), Some(high));
        assert_eq!(Digest::from_key(b"short"), None);
    }
}
