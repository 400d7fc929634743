//! Kernel sizes of convolution and pooling layers.
//!
//! A kernel is written `kernel: 3` for a square kernel or `kernel: [3, 5]` for height × width.
//! It is serialized the same way (an integer when square), so a round trip keeps files short.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kernel of `h` × `w` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// Kernel height.
    pub h: usize,
    /// Kernel width.
    pub w: usize,
}

impl Kernel {
    /// A square `k` × `k` kernel.
    pub const fn square(k: usize) -> Self {
        Self { h: k, w: k }
    }

    /// A rectangular `h` × `w` kernel.
    pub const fn new(h: usize, w: usize) -> Self {
        Self { h, w }
    }

    /// Number of taps, `h·w` (saturating at `u64::MAX`; a validated kernel has sides of
    /// at most [`MAX_SIDE`](super::MAX_SIDE)).
    pub fn area(&self) -> u64 {
        (self.h as u64).saturating_mul(self.w as u64)
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.h, self.w)
    }
}

impl Serialize for Kernel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.h == self.w {
            serializer.serialize_u64(self.h as u64)
        } else {
            [self.h, self.w].serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Kernel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KernelVisitor)
    }
}

/// Accepts `k` or `[h, w]`.
struct KernelVisitor;

impl<'de> Visitor<'de> for KernelVisitor {
    type Value = Kernel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kernel size: an integer k or a list [h, w]")
    }

    fn visit_u64<E: de::Error>(self, k: u64) -> Result<Kernel, E> {
        let k = usize::try_from(k).map_err(|_| E::custom("kernel size too large"))?;
        Ok(Kernel::square(k))
    }

    fn visit_i64<E: de::Error>(self, k: i64) -> Result<Kernel, E> {
        let k = u64::try_from(k)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(k), &"a non-negative size"))?;
        self.visit_u64(k)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kernel, A::Error> {
        let h: usize = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &"[h, w]"))?;
        let w: usize = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &"[h, w]"))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &"[h, w]"));
        }
        Ok(Kernel::new(h, w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integer_and_pair() {
        assert_eq!(
            serde_yaml::from_str::<Kernel>("3").unwrap(),
            Kernel::square(3)
        );
        assert_eq!(
            serde_yaml::from_str::<Kernel>("[1, 7]").unwrap(),
            Kernel::new(1, 7)
        );
        assert_eq!(
            serde_json::from_str::<Kernel>("[5,5]").unwrap(),
            Kernel::square(5)
        );
    }

    #[test]
    fn rejects_other_forms() {
        assert!(serde_yaml::from_str::<Kernel>("[1, 2, 3]").is_err());
        assert!(serde_yaml::from_str::<Kernel>("[1]").is_err());
        assert!(serde_yaml::from_str::<Kernel>("-3").is_err());
        assert!(serde_yaml::from_str::<Kernel>("three").is_err());
    }

    #[test]
    fn writes_square_as_integer() {
        assert_eq!(serde_json::to_string(&Kernel::square(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Kernel::new(1, 7)).unwrap(), "[1,7]");
    }
}
