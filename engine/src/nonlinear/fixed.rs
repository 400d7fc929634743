//! Fixed-point numbers in Z_{2^ℓ} and the ring helpers the non-linear protocols share.
//!
//! A real `v` is encoded at scale `s` as `round(v·2^s)` reduced mod 2^ℓ (two's complement in
//! ℓ bits); [`signed`] reads it back as a signed integer. [`crate::nonlinear::reference`]
//! holds the exact integer semantics every secure layer is tested against.

use crate::ot::OtError;

/// The mask of the low `ell` bits (`ell` ≤ 64).
pub fn ring_mask(ell: u32) -> u64 {
    if ell >= 64 {
        u64::MAX
    } else {
        (1u64 << ell) - 1
    }
}

/// The signed value of an ℓ-bit ring element, in `[−2^{ℓ−1}, 2^{ℓ−1})`.
pub fn signed(x: u64, ell: u32) -> i64 {
    ((x << (64 - ell)) as i64) >> (64 - ell)
}

/// The ring element of a signed value, mod 2^ℓ.
pub fn from_signed(v: i64, ell: u32) -> u64 {
    v as u64 & ring_mask(ell)
}

/// Encodes `v` at scale `scale`: `round(v·2^scale)` mod 2^ℓ.
pub fn encode(v: f64, scale: u32, ell: u32) -> u64 {
    from_signed((v * (1u64 << scale) as f64).round() as i64, ell)
}

/// Decodes a ring element at scale `scale` into a real.
pub fn decode(x: u64, scale: u32, ell: u32) -> f64 {
    signed(x, ell) as f64 / (1u64 << scale) as f64
}

/// `a + b mod 2^ℓ`.
pub fn add(a: u64, b: u64, ell: u32) -> u64 {
    a.wrapping_add(b) & ring_mask(ell)
}

/// `a − b mod 2^ℓ`.
pub fn sub(a: u64, b: u64, ell: u32) -> u64 {
    a.wrapping_sub(b) & ring_mask(ell)
}

/// `a·b mod 2^ℓ`.
pub fn mul(a: u64, b: u64, ell: u32) -> u64 {
    a.wrapping_mul(b) & ring_mask(ell)
}

/// Checks that shares live in a ring the protocols support: 8 ≤ ℓ ≤ 64.
pub(crate) fn check_ring(ell: u32) -> Result<(), OtError> {
    if !(8..=64).contains(&ell) {
        return Err(OtError::InvalidInput(format!(
            "non-linear layers need a ring of 8 to 64 bits, got {ell}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_and_signs() {
        let ell = 41;
        assert_eq!(encode(1.5, 12, ell), 6144);
        assert_eq!(signed(encode(-1.5, 12, ell), ell), -6144);
        assert_eq!(decode(encode(-3.25, 12, ell), 12, ell), -3.25);
        assert_eq!(signed(ring_mask(ell), ell), -1);
        assert_eq!(signed(1 << 40, ell), -(1 << 40));
        assert_eq!(from_signed(-1, ell), ring_mask(ell));
        assert_eq!(sub(0, 1, ell), ring_mask(ell));
        assert_eq!(mul(from_signed(-3, ell), 5, ell), from_signed(-15, ell));
    }
}
