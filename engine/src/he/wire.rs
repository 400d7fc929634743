//! Checks of the client's public key (in the `fhe` crate's serialized form) before the
//! crates see it: the protobuf structure (fields, counts, level, degree, representation,
//! lengths) and that every residue lies below its modulus. Uploads and answers travel in the
//! engine's own compact forms, checked in `compact.rs`.
//!
//! The crates trust their input: an unreduced residue only trips a debug assertion (and
//! silently computes garbage in a release build), and a polynomial in another
//! representation panics in arithmetic. So nothing a peer sends reaches them unchecked, in
//! every build, and no panic needs catching. The wire forms (fhe 0.1's `bfv.proto` and
//! `rq.proto`): a ciphertext is `{repeated bytes c = 1; bytes seed = 2; uint32 level = 3}`,
//! a polynomial `{Representation representation = 1; uint32 degree = 2;
//! bytes coefficients = 3; bool allow_variable_time = 4}` with the residues of each modulus
//! packed little-endian in `bits(q − 1)` bits.

use super::{HeError, HeParamsDesc};
use crate::ot::bits::unpack;

/// `Representation::NTT` in `rq.proto`.
const NTT: u64 = 2;

/// One protobuf field: its number and its value (a varint or a byte string).
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

fn malformed(detail: impl Into<String>) -> HeError {
    HeError::Wire(detail.into())
}

/// The fields of a protobuf message, in order; wire types other than varint and
/// length-delimited are rejected.
fn fields(mut bytes: &[u8]) -> Result<Vec<Field<'_>>, HeError> {
    fn varint(bytes: &mut &[u8]) -> Result<u64, HeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = bytes
                .split_first()
                .ok_or_else(|| malformed("a truncated varint"))?;
            *bytes = rest;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a varint longer than 10 bytes"))
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number =
            u32::try_from(key >> 3).map_err(|_| malformed("a field number out of range"))?;
        match key & 7 {
            0 => out.push(Field::Varint(number, varint(&mut bytes)?)),
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .ok()
                    .filter(|&len| len <= bytes.len())
                    .ok_or_else(|| malformed("a field longer than its message"))?;
                let (value, rest) = bytes.split_at(len);
                out.push(Field::Bytes(number, value));
                bytes = rest;
            }
            other => return Err(malformed(format!("an unexpected wire type {other}"))),
        }
    }
    Ok(out)
}

/// Checks one serialized polynomial over the first `moduli` moduli of `desc`: NTT form,
/// degree N, the exact length, every residue reduced.
pub(crate) fn check_poly(bytes: &[u8], desc: &HeParamsDesc, moduli: usize) -> Result<(), HeError> {
    let (mut representation, mut degree, mut coefficients) = (0, 0, None);
    for field in fields(bytes)? {
        match field {
            Field::Varint(1, v) => representation = v,
            Field::Varint(2, v) => degree = v,
            Field::Bytes(3, v) => coefficients = Some(v),
            Field::Varint(4, _) => {}
            _ => return Err(malformed("a polynomial with an unknown or mistyped field")),
        }
    }
    if representation != NTT {
        return Err(malformed(format!(
            "a polynomial in representation {representation}, expected NTT"
        )));
    }
    if degree != desc.degree as u64 {
        return Err(malformed(format!(
            "a polynomial of degree {degree}, expected {}",
            desc.degree
        )));
    }
    let mut rest = coefficients.unwrap_or_default();
    for (i, &q) in desc.moduli[..moduli].iter().enumerate() {
        let bits = 64 - (q - 1).leading_zeros();
        let len = bits as usize * desc.degree / 8;
        let Some((residues, tail)) = rest.split_at_checked(len) else {
            return Err(malformed("a polynomial with too few coefficient bytes"));
        };
        let values = unpack(residues, bits, desc.degree, "residues")
            .map_err(|e| malformed(e.to_string()))?;
        if let Some((k, v)) = values.iter().enumerate().find(|(_, &v)| v >= q) {
            return Err(malformed(format!(
                "residue {k} of modulus {i} is {v:#x}, not below the modulus {q:#x}"
            )));
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(malformed("a polynomial with too many coefficient bytes"));
    }
    Ok(())
}

/// The seed of a seeded ciphertext in the `fhe` crate's form (the client's own, before it
/// re-encodes it for the wire).
pub(crate) fn seed_of(bytes: &[u8]) -> Result<[u8; 32], HeError> {
    fields(bytes)?
        .into_iter()
        .find_map(|field| match field {
            Field::Bytes(2, v) => <[u8; 32]>::try_from(v).ok(),
            _ => None,
        })
        .ok_or_else(|| malformed("a ciphertext without a 32-byte seed"))
}

/// Checks a seeded top-level ciphertext (the client's public key): one polynomial `c0` over
/// every modulus, a 32-byte seed, level 0.
pub(crate) fn check_seeded_ciphertext(bytes: &[u8], desc: &HeParamsDesc) -> Result<(), HeError> {
    let (mut polys, mut seed, mut level) = (Vec::new(), None, 0);
    for field in fields(bytes)? {
        match field {
            Field::Bytes(1, v) => polys.push(v),
            Field::Bytes(2, v) => seed = Some(v),
            Field::Varint(3, v) => level = v,
            _ => return Err(malformed("a ciphertext with an unknown or mistyped field")),
        }
    }
    if polys.len() != 1 || seed.map(<[u8]>::len) != Some(32) || level != 0 {
        return Err(malformed(format!(
            "a ciphertext with {} polynomials, a {}-byte seed at level {level}; expected one, \
             32 bytes, level 0",
            polys.len(),
            seed.map_or(0, <[u8]>::len)
        )));
    }
    check_poly(polys[0], desc, desc.moduli.len())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::he::{HeClient, HeParams};

    fn params() -> HeParams {
        HeParams::new(HeParamsDesc::custom(32, 256, &[60, 60], 20).unwrap()).unwrap()
    }

    /// The byte range of the first coefficient bytes of a seeded ciphertext's `c0`.
    fn coefficients(bytes: &[u8]) -> std::ops::Range<usize> {
        let Field::Bytes(1, poly) = &fields(bytes).unwrap()[0] else {
            panic!("c0 first")
        };
        let offset = poly.as_ptr() as usize - bytes.as_ptr() as usize;
        let coeffs = fields(poly)
            .unwrap()
            .into_iter()
            .find_map(|f| match f {
                Field::Bytes(3, v) => Some(v),
                _ => None,
            })
            .unwrap();
        let start = offset + (coeffs.as_ptr() as usize - poly.as_ptr() as usize);
        start..start + coeffs.len()
    }

    #[test]
    fn real_ciphertexts_pass_and_damaged_ones_are_named() {
        let params = params();
        let desc = params.desc().clone();
        let mut client = HeClient::new(params, ChaCha20Rng::seed_from_u64(1));
        let pk = client.public_key().unwrap();
        check_seeded_ciphertext(&pk, &desc).unwrap();
        // A residue at its largest packed value is at least its modulus.
        let mut bad = pk.clone();
        let range = coefficients(&bad);
        bad[range.start..range.start + 8].fill(0xff);
        let err = check_seeded_ciphertext(&bad, &desc)
            .unwrap_err()
            .to_string();
        assert!(err.contains("residue 0 of modulus 0"), "{err}");
        // Truncation, a wrong degree (other parameters), trailing garbage.
        assert!(check_seeded_ciphertext(&pk[..pk.len() - 40], &desc).is_err());
        let other = HeParamsDesc::custom(32, 512, &[60, 60], 20).unwrap();
        assert!(check_seeded_ciphertext(&pk, &other).is_err());
        let mut long = pk.clone();
        long.extend_from_slice(&[0x1a, 0x00]);
        assert!(check_seeded_ciphertext(&long, &desc).is_err());
        assert!(check_seeded_ciphertext(&[0xff; 40], &desc).is_err());
        assert!(check_seeded_ciphertext(&[], &desc).is_err());
    }
}
