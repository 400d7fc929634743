//! The largest networks the engine describes, and the checked arithmetic that enforces it.
//!
//! Shapes and costs are products of numbers a network file may set to anything (`h:
//! 4000000000`, `padding: 2^40`). Validation computes every one of them with checked
//! arithmetic against the bounds below, so an absurd network is an error naming the layer
//! and the quantity — in debug and release builds alike — and everything downstream (the HE
//! and OT planners, the dataset's features, the predictors) works on numbers that cannot
//! overflow: a validated count is at most 2^53, so even `2 · count · 1024` fits in a `u64`,
//! and every count is exact as an `f64` feature.

use crate::error::NetworkError;

use super::OpKind;

/// Largest height or width of any tensor, padded input or kernel, and largest stride or
/// padding: 65,536 pixels. The HE planner searches block sizes up to a map's side, so the
/// side bounds its time.
pub const MAX_SIDE: usize = 1 << 16;

/// Largest number of elements of any tensor (also the longest flat vector, and the most
/// window taps of a pooling layer, which the engine lists): 2^32. One such tensor already
/// holds 32 GiB of 64-bit shares.
pub const MAX_ELEMENTS: u64 = 1 << 32;

/// Largest parameter, weight, multiply-accumulate or operation count of one layer, and of a
/// whole network: 2^53, the largest integer every `f64` feature holds exactly.
pub const MAX_COUNT: u64 = 1 << 53;

/// Where a checked quantity belongs: a layer (index, name and kind).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    /// 0-based layer index.
    pub index: usize,
    /// Layer name.
    pub name: &'a str,
    /// Layer kind.
    pub kind: OpKind,
}

impl Site<'_> {
    /// The error for `quantity` being `value` (`None`: beyond 64 bits), above `limit`.
    pub(crate) fn too_large(
        &self,
        quantity: &'static str,
        value: Option<u64>,
        limit: u64,
    ) -> NetworkError {
        NetworkError::TooLarge {
            index: self.index,
            name: self.name.to_owned(),
            kind: self.kind,
            quantity,
            value,
            limit,
        }
    }

    /// `value` if it is at most `limit`, else the error naming `quantity`.
    pub(crate) fn bounded(
        &self,
        quantity: &'static str,
        value: Option<u64>,
        limit: u64,
    ) -> Result<u64, NetworkError> {
        match value {
            Some(v) if v <= limit => Ok(v),
            _ => Err(self.too_large(quantity, value, limit)),
        }
    }

    /// The product of `factors`, at most `limit`.
    pub(crate) fn product(
        &self,
        quantity: &'static str,
        factors: &[u64],
        limit: u64,
    ) -> Result<u64, NetworkError> {
        self.bounded(quantity, checked_product(factors), limit)
    }

    /// A size parameter (stride, padding, kernel side) of at most [`MAX_SIDE`].
    pub(crate) fn side(&self, quantity: &'static str, value: usize) -> Result<usize, NetworkError> {
        self.bounded(quantity, Some(value as u64), MAX_SIDE as u64)
            .map(|v| v as usize)
    }
}

/// The product of `factors`, or `None` if it does not fit in a `u64`.
pub(crate) fn checked_product(factors: &[u64]) -> Option<u64> {
    factors
        .iter()
        .try_fold(1u64, |product, &factor| product.checked_mul(factor))
}

/// Writes a value that may be beyond 64 bits, for error messages.
pub(crate) struct Value(pub Option<u64>);

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(value) => write!(f, "{value}"),
            None => f.write_str("more than 2^64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_report_overflow() {
        assert_eq!(checked_product(&[2, 3, 7]), Some(42));
        assert_eq!(checked_product(&[]), Some(1));
        assert_eq!(checked_product(&[u64::MAX, 2]), None);
        assert_eq!(checked_product(&[u64::MAX, 0]), Some(0));
    }

    #[test]
    fn bounds_name_the_layer_and_the_quantity() {
        let site = Site {
            index: 4,
            name: "fc",
            kind: OpKind::Fc,
        };
        assert_eq!(
            site.product("weights", &[1 << 20, 1 << 20], MAX_COUNT)
                .unwrap(),
            1 << 40
        );
        let err = site
            .product("weights", &[1 << 30, 1 << 30], MAX_COUNT)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer 4 'fc': fc weights is 1152921504606846976, more than the limit of \
             9007199254740992; networks this large cannot be planned or run: use a smaller \
             input or layer"
        );
        let err = site
            .product("weights", &[u64::MAX, 3], MAX_COUNT)
            .unwrap_err();
        assert!(
            err.to_string().contains("weights is more than 2^64"),
            "{err}"
        );
        assert!(site.side("padding", MAX_SIDE + 1).is_err());
        assert_eq!(site.side("padding", MAX_SIDE).unwrap(), MAX_SIDE);
    }
}
