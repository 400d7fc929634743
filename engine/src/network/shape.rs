//! Tensor shapes: height × width × channels, the unit of shape inference.
//!
//! Activations are described in HWC order for a batch of one. A flat vector (the output of
//! `flatten`, `global_avg_pool` or `fc`) is the shape `1x1xC`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shape of one activation tensor, height × width × channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Height in pixels (1 for a flat vector).
    pub h: usize,
    /// Width in pixels (1 for a flat vector).
    pub w: usize,
    /// Channels (the vector length for a flat vector).
    pub c: usize,
}

impl Shape {
    /// A shape of `h` × `w` × `c`.
    pub const fn new(h: usize, w: usize, c: usize) -> Self {
        Self { h, w, c }
    }

    /// The flat vector shape `1x1xlen`.
    pub const fn flat(len: usize) -> Self {
        Self::new(1, 1, len)
    }

    /// Whether this is a flat vector (`1x1xC`), as `fc` requires.
    pub const fn is_flat(&self) -> bool {
        self.h == 1 && self.w == 1
    }

    /// Whether any dimension is zero.
    pub const fn has_zero(&self) -> bool {
        self.h == 0 || self.w == 0 || self.c == 0
    }

    /// Number of elements, `h·w·c` (saturating at `u64::MAX`; a validated shape has at most
    /// [`MAX_ELEMENTS`](super::MAX_ELEMENTS)).
    pub fn elements(&self) -> u64 {
        self.checked_elements().unwrap_or(u64::MAX)
    }

    /// Number of elements, `h·w·c`, or `None` if it does not fit in a `u64`.
    pub fn checked_elements(&self) -> Option<u64> {
        (self.h as u64)
            .checked_mul(self.w as u64)?
            .checked_mul(self.c as u64)
    }

    /// Number of spatial positions, `h·w` (saturating at `u64::MAX`).
    pub fn spatial(&self) -> u64 {
        (self.h as u64).saturating_mul(self.w as u64)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_hxwxc() {
        assert_eq!(Shape::new(224, 112, 3).to_string(), "224x112x3");
        assert_eq!(Shape::flat(1000).to_string(), "1x1x1000");
    }

    #[test]
    fn counts_elements() {
        assert_eq!(Shape::new(7, 7, 2048).elements(), 100_352);
        assert!(Shape::flat(10).is_flat());
        assert!(!Shape::new(2, 1, 10).is_flat());
        assert!(Shape::new(2, 0, 10).has_zero());
        let huge = Shape::new(usize::MAX, 2, 2);
        assert_eq!(huge.checked_elements(), None);
        assert_eq!(huge.elements(), u64::MAX);
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = serde_yaml::from_str::<Shape>("{h: 1, w: 2, c: 3, d: 4}").unwrap_err();
        assert!(err.to_string().contains("unknown field `d`"), "{err}");
    }
}
