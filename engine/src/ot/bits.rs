//! Dense packing of short values (ℓ-bit ring elements, choice bits) into bytes for the wire.

use super::error::{expect_len, OtError};

/// The mask of the low `width` bits (`width` ≤ 64).
pub(crate) fn low_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Bytes needed for `n` values of `width` bits.
pub(crate) fn packed_len(n: usize, width: u32) -> usize {
    (n * width as usize).div_ceil(8)
}

/// A little-endian bit stream being written, in pieces of up to 64 bits.
pub(crate) struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    held: u32,
}

impl BitWriter {
    /// A writer for about `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            out: Vec::with_capacity(bytes),
            acc: 0,
            held: 0,
        }
    }

    /// Appends the low `width` bits (0..=64) of `v`; fewer than 8 bits are ever held
    /// between calls, so at most 72 are.
    #[inline]
    pub(crate) fn put(&mut self, v: u64, width: u32) {
        self.acc |= u128::from(v & low_mask(width)) << self.held;
        self.held += width;
        while self.held >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.held -= 8;
        }
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.held > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A little-endian bit stream being read, in pieces of up to 64 bits; past its end it reads
/// zeros (callers check the length first).
pub(crate) struct BitReader<'a> {
    bytes: std::slice::Iter<'a, u8>,
    acc: u128,
    held: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes: bytes.iter(),
            acc: 0,
            held: 0,
        }
    }

    /// The next `width` bits (0..=64).
    #[inline]
    pub(crate) fn take(&mut self, width: u32) -> u64 {
        while self.held < width {
            self.acc |= u128::from(*self.bytes.next().unwrap_or(&0)) << self.held;
            self.held += 8;
        }
        let v = self.acc as u64 & low_mask(width);
        self.acc >>= width;
        self.held -= width;
        v
    }
}

/// Packs the low `width` bits (1..=64) of every value, little-endian bit order.
pub(crate) fn pack(values: &[u64], width: u32) -> Vec<u8> {
    debug_assert!((1..=64).contains(&width));
    let mut out = BitWriter::with_capacity(packed_len(values.len(), width));
    for &v in values {
        out.put(v, width);
    }
    out.finish()
}

/// Unpacks `n` values of `width` bits; the message must have exactly the packed length.
pub(crate) fn unpack(bytes: &[u8], width: u32, n: usize, what: &str) -> Result<Vec<u64>, OtError> {
    expect_len(bytes, packed_len(n, width), what)?;
    let mut bits = BitReader::new(bytes);
    Ok((0..n).map(|_| bits.take(width)).collect())
}

/// Packs booleans into 128-bit words, bit `j % 128` of word `j / 128`; the tail is zero.
pub(crate) fn pack_bools_u128(bits: &[bool], words: usize) -> Vec<u128> {
    let mut out = vec![0u128; words];
    for (j, &b) in bits.iter().enumerate() {
        out[j / 128] |= (b as u128) << (j % 128);
    }
    out
}

/// Packs booleans into bytes, bit `j % 8` of byte `j / 8`.
pub(crate) fn pack_bools(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (j, &b) in bits.iter().enumerate() {
        out[j / 8] |= (b as u8) << (j % 8);
    }
    out
}

/// Unpacks `n` booleans; the message must have exactly the packed length.
pub(crate) fn unpack_bools(bytes: &[u8], n: usize, what: &str) -> Result<Vec<bool>, OtError> {
    expect_len(bytes, n.div_ceil(8), what)?;
    Ok((0..n).map(|j| (bytes[j / 8] >> (j % 8)) & 1 == 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn pack_roundtrips_every_width() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for width in 1..=64 {
            for n in [0usize, 1, 7, 8, 9, 100] {
                let vals: Vec<u64> = (0..n)
                    .map(|_| rng.random::<u64>() & low_mask(width))
                    .collect();
                let packed = pack(&vals, width);
                assert_eq!(packed.len(), packed_len(n, width));
                assert_eq!(unpack(&packed, width, n, "test").unwrap(), vals);
            }
        }
        assert!(unpack(&[0u8; 3], 8, 2, "test").is_err());
        let bools: Vec<bool> = (0..77).map(|_| rng.random()).collect();
        assert_eq!(
            unpack_bools(&pack_bools(&bools), 77, "test").unwrap(),
            bools
        );
        assert!(unpack_bools(&[0u8; 3], 77, "test").is_err());
    }
}
