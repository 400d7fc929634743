//! The error type of the HE linear layers.

use thiserror::Error;

/// What went wrong while choosing parameters, planning or running an HE linear layer.
///
/// Messages read after "failed to …".
#[derive(Debug, Error)]
pub enum HeError {
    /// The requested share bit length is outside what the engine supports.
    #[error("choose HE parameters: bit length {ell} is outside 2..=60")]
    BitLength {
        /// The requested bit length ℓ.
        ell: u32,
    },
    /// No candidate (degree, moduli) reaches the required flooding margin.
    #[error(
        "choose HE parameters: no candidate keeps a {required}-bit flooding margin at ℓ = {ell}"
    )]
    NoParameters {
        /// The requested bit length ℓ.
        ell: u32,
        /// The required flooding margin in bits.
        required: u32,
    },
    /// Not enough NTT-friendly primes of the requested size.
    #[error("choose HE parameters: not enough {bits}-bit primes for degree {degree}")]
    Primes {
        /// Prime size in bits.
        bits: u32,
        /// Polynomial degree.
        degree: usize,
    },
    /// A ciphertext modulus is not larger than the plaintext modulus 2^ℓ, which the `fhe`
    /// crate requires.
    #[error("choose HE parameters: a {bits}-bit ciphertext modulus does not exceed 2^{ell}")]
    ModulusTooSmall {
        /// The modulus size in bits.
        bits: u32,
        /// The requested bit length ℓ.
        ell: u32,
    },
    /// A ciphertext from the peer is malformed or has a residue out of range.
    #[error("read a ciphertext from the peer: {0}")]
    Wire(String),
    /// The layer shape cannot be planned (zero size, kernel larger than the padded input…).
    #[error("plan linear layer: {0}")]
    Shape(String),
    /// A vector has the wrong length for the layer.
    #[error("run linear layer: {what} has {actual} elements, expected {expected}")]
    Length {
        /// Which vector.
        what: &'static str,
        /// Its length.
        actual: usize,
        /// The length the plan expects.
        expected: usize,
    },
    /// The weights are too large for the noise budget the parameters were chosen for.
    #[error(
        "run linear layer: weight L1 norm 2^{actual_bits:.1} exceeds the 2^{limit_bits} the parameters allow"
    )]
    WeightNorm {
        /// log2 of the largest per-output L1 norm of the centred weights.
        actual_bits: f64,
        /// The bound from [`super::HeParamsDesc::weight_l1_bits`].
        limit_bits: u32,
    },
    /// An error from the `fhe` crate.
    #[error("run BFV operation")]
    Fhe(#[from] fhe::Error),
    /// An error from the `fhe-math` crate.
    #[error("run polynomial operation")]
    Math(#[from] fhe_math::Error),
}

/// `Ok` when a vector has the length the plan expects.
pub(crate) fn check_len(what: &'static str, actual: usize, expected: usize) -> Result<(), HeError> {
    if actual == expected {
        Ok(())
    } else {
        Err(HeError::Length {
            what,
            actual,
            expected,
        })
    }
}
