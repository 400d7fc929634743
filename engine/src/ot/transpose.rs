//! Bit-matrix transpose for the OT extension: 128 columns of m bits become m rows of 128 bits.
//!
//! Works on 128×128 tiles with the recursive block-swap of Hacker's Delight (7 levels of
//! masked swaps on `u128` words), so a tile costs a few thousand word operations.

/// Transposes a 128×128 bit matrix in place; bit `j` of `a[i]` is entry (i, j).
pub(crate) fn transpose128(a: &mut [u128; 128]) {
    let mut width = 64usize;
    let mut mask: u128 = u64::MAX as u128;
    while width != 0 {
        let mut k = 0usize;
        while k < 128 {
            // Swap the high `width` bits of a[k] with the low `width` bits of a[k + width].
            let t = ((a[k] >> width) ^ a[k + width]) & mask;
            a[k] ^= t << width;
            a[k + width] ^= t;
            k = (k + width + 1) & !width;
        }
        width >>= 1;
        mask ^= mask << width;
    }
}

/// Transposes 128 column vectors (column `i` is `cols[i * blocks..(i + 1) * blocks]`, bit `j`
/// of word `b` being row `128 b + j`) into `rows` (`128 * blocks` words, bit `i` of row `r`
/// being column `i`).
pub(crate) fn transpose_columns(cols: &[u128], blocks: usize, rows: &mut [u128]) {
    debug_assert_eq!(cols.len(), 128 * blocks);
    debug_assert_eq!(rows.len(), 128 * blocks);
    let mut tile = [0u128; 128];
    for b in 0..blocks {
        for (i, t) in tile.iter_mut().enumerate() {
            *t = cols[i * blocks + b];
        }
        transpose128(&mut tile);
        rows[b * 128..(b + 1) * 128].copy_from_slice(&tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn bit(x: u128, i: usize) -> bool {
        (x >> i) & 1 == 1
    }

    #[test]
    fn tile_transpose_matches_naive() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for _ in 0..20 {
            let mut a = [0u128; 128];
            for w in a.iter_mut() {
                *w = rng.random();
            }
            let orig = a;
            transpose128(&mut a);
            for (i, row) in orig.iter().enumerate() {
                for (j, col) in a.iter().enumerate() {
                    assert_eq!(bit(*col, i), bit(*row, j));
                }
            }
        }
    }

    #[test]
    fn column_transpose_matches_naive() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let blocks = 3;
        let cols: Vec<u128> = (0..128 * blocks).map(|_| rng.random()).collect();
        let mut rows = vec![0u128; 128 * blocks];
        transpose_columns(&cols, blocks, &mut rows);
        for (r, row) in rows.iter().enumerate() {
            for i in 0..128 {
                let col_bit = bit(cols[i * blocks + r / 128], r % 128);
                assert_eq!(bit(*row, i), col_bit);
            }
        }
    }
}
