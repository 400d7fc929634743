//! The millionaires' protocol (CrypTFlow2 / Cheetah style): XOR shares of `1{x < y}` for the
//! client's `x` and the server's `y`, both `bits`-bit unsigned values, batched.
//!
//! Values are cut into digits of m = 4 bits (the top digit zero-padded). For every digit the
//! server, as 1-of-16 OT sender, offers for each possible client digit `v` the pair
//! `(1{v < y_j} ⊕ lt_s, 1{v = y_j} ⊕ eq_s)` with fresh random shares `lt_s, eq_s`; the client
//! picks `v = x_j` and holds the other shares. Digits are then merged pairwise, low digit
//! first, in a log-depth tree: `lt = lt_hi ⊕ (eq_hi ∧ lt_lo)`, `eq = eq_hi ∧ eq_lo` (the two
//! terms of `lt` exclude each other, so XOR is OR). Both gates of a node share the factor
//! `eq_hi`, so each node uses one group of two triples made up front (two random OTs). A
//! 40-bit comparison takes 10 1-of-16 OTs, 9 triple groups and 4 rounds of AND gates.
//! (The lowest node's `eq` is never needed; computing it costs no OT, only one opened bit.)

use rand::{CryptoRng, Rng};

use super::error::OtError;
use super::one_of_n::{recv_one_of_n, send_one_of_n_packed};
use super::triples::{and_gates, bit_triples};
use super::{OtReceiver, OtSender, Role};
use crate::channel::Channel;

/// Bits per digit.
const DIGIT_BITS: u32 = 4;
/// Values a digit can take.
const DIGIT_VALUES: usize = 1 << DIGIT_BITS;

/// The server's leaf messages for each value `y` of its digit, packed as
/// [`send_one_of_n_packed`] takes them: slot `v` (bits 2v, 2v + 1) holds `1{v < y}` and
/// `1{v = y}`.
const LEAF_TABLES: [u128; DIGIT_VALUES] = leaf_tables();
/// The low bit of every slot (where the `lt` share is added).
const LT_SLOTS: u128 = 0x5555_5555;
/// The high bit of every slot (where the `eq` share is added).
const EQ_SLOTS: u128 = 0xaaaa_aaaa;

const fn leaf_tables() -> [u128; DIGIT_VALUES] {
    let mut tables = [0u128; DIGIT_VALUES];
    let mut y = 0;
    while y < DIGIT_VALUES {
        let mut v = 0;
        while v < DIGIT_VALUES {
            tables[y] |= ((v < y) as u128) << (2 * v) | ((v == y) as u128) << (2 * v + 1);
            v += 1;
        }
        y += 1;
    }
    tables
}

/// `n` uniformly random bits, 64 per draw from `rng`.
fn random_bools<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Vec<bool> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let word: u64 = rng.random();
        let take = (n - out.len()).min(64);
        out.extend((0..take).map(|b| (word >> b) & 1 == 1));
    }
    out
}

/// Tree nodes (groups of two AND gates sharing the factor `eq_hi`) the merge tree of
/// `digits` leaves needs per comparison.
fn node_count(mut digits: usize) -> usize {
    let mut total = 0;
    while digits > 1 {
        let pairs = digits / 2;
        total += pairs;
        digits -= pairs;
    }
    total
}

/// XOR shares of `1{x_i < y_i}`: the server passes `y`, the client `x` (each below
/// `2^bits`, 1 ≤ bits ≤ 64). The server is the 1-of-16 OT sender.
pub fn millionaire<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    values: &[u64],
    bits: u32,
    rng: &mut R,
) -> Result<Vec<bool>, OtError> {
    if !(1..=64).contains(&bits) {
        return Err(OtError::InvalidInput(format!(
            "comparison needs 1 to 64 bits, got {bits}"
        )));
    }
    if bits < 64 && values.iter().any(|&v| v >> bits != 0) {
        return Err(OtError::InvalidInput(format!(
            "comparison input does not fit in {bits} bits"
        )));
    }
    let n = values.len();
    let q = bits.div_ceil(DIGIT_BITS) as usize;
    let digit =
        |v: u64, j: usize| ((v >> (j as u32 * DIGIT_BITS)) & (DIGIT_VALUES as u64 - 1)) as u8;
    let triples = bit_triples(role, sender, receiver, ch, n * node_count(q), 2)?;

    // Leaves: lt/eq shares of every digit, index i * q + j (digit 0 least significant).
    let digits: Vec<u8> = values
        .iter()
        .flat_map(|&v| (0..q).map(move |j| digit(v, j)))
        .collect();
    let (mut lt, mut eq) = match role {
        Role::Server => {
            let lt = random_bools(rng, n * q);
            let eq = random_bools(rng, n * q);
            // Message v of a digit y_j: bit 0 is 1{v < y_j} ⊕ lt_s, bit 1 is 1{v = y_j} ⊕ eq_s;
            // packed over v as the 1-of-16 OT takes them: the table of y_j, then the shares
            // flipped in every slot at once.
            let messages = |d: usize| {
                Ok(LEAF_TABLES[digits[d] as usize]
                    ^ (lt[d] as u128 * LT_SLOTS)
                    ^ (eq[d] as u128 * EQ_SLOTS))
            };
            send_one_of_n_packed(sender, ch, DIGIT_BITS, 2, n * q, messages)?;
            (lt, eq)
        }
        Role::Client => {
            let got = recv_one_of_n(receiver, ch, DIGIT_BITS, 2, &digits)?;
            (
                got.iter().map(|g| g & 1 == 1).collect(),
                got.iter().map(|g| g & 2 == 2).collect(),
            )
        }
    };

    // Merge tree: one batch of AND gates per level.
    let mut k = q;
    let mut used = 0;
    while k > 1 {
        let pairs = k / 2;
        let next = k - pairs;
        // Node (lo, hi) needs eq_hi ∧ lt_lo and eq_hi ∧ eq_lo: one triple group of width 2.
        let mut u = Vec::with_capacity(n * pairs);
        let mut v = Vec::with_capacity(2 * n * pairs);
        for i in 0..n {
            for t in 0..pairs {
                let (lo, hi) = (i * k + 2 * t, i * k + 2 * t + 1);
                u.push(eq[hi]);
                v.push(lt[lo]);
                v.push(eq[lo]);
            }
        }
        let z = and_gates(role, ch, &u, &v, &triples, used)?;
        used += u.len();
        let mut new_lt = Vec::with_capacity(n * next);
        let mut new_eq = Vec::with_capacity(n * next);
        for i in 0..n {
            for t in 0..pairs {
                let hi = i * k + 2 * t + 1;
                let g = i * pairs + t;
                new_lt.push(lt[hi] ^ z[2 * g]);
                new_eq.push(z[2 * g + 1]);
            }
            if k % 2 == 1 {
                new_lt.push(lt[i * k + k - 1]);
                new_eq.push(eq[i * k + k - 1]);
            }
        }
        lt = new_lt;
        eq = new_eq;
        k = next;
    }
    Ok(lt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::bits::low_mask;
    use crate::ot::test_util::{run_mem, NoOt};
    use crate::ot::IknpPair;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn node_count_matches_the_tree() {
        assert_eq!(node_count(1), 0);
        assert_eq!(node_count(2), 1);
        assert_eq!(node_count(3), 2);
        assert_eq!(node_count(10), 9);
        assert_eq!(node_count(16), 15);
    }

    fn compare(seed: u64, xs: &[u64], ys: &[u64], bits: u32) -> Vec<bool> {
        let (s, c) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let mut p = IknpPair::setup(Role::Server, ch, 6, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                millionaire(Role::Server, s, r, ch, ys, bits, &mut rng).unwrap()
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
                let mut p = IknpPair::setup(Role::Client, ch, 6, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                millionaire(Role::Client, s, r, ch, xs, bits, &mut rng).unwrap()
            },
        );
        s.iter().zip(&c).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn matches_plaintext_comparison() {
        for (seed, bits) in [
            (1u64, 1u32),
            (2, 3),
            (3, 4),
            (4, 5),
            (5, 17),
            (6, 40),
            (7, 64),
        ] {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mask = low_mask(bits);
            let edges = [0, 1, mask, mask - 1, mask >> 1, (mask >> 1) + 1];
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for &a in &edges {
                for &b in &edges {
                    xs.push(a & mask);
                    ys.push(b & mask);
                }
            }
            for _ in 0..2_000 {
                let x = rng.random::<u64>() & mask;
                xs.push(x);
                // Every third pair shares a long prefix, to exercise the equality path.
                let y = match rng.random_range(0..3) {
                    0 => x,
                    1 => x ^ (1 << rng.random_range(0..bits)),
                    _ => rng.random::<u64>() & mask,
                };
                ys.push(y);
            }
            let got = compare(seed, &xs, &ys, bits);
            for i in 0..xs.len() {
                assert_eq!(got[i], xs[i] < ys[i], "bits {bits}: {} < {}", xs[i], ys[i]);
            }
        }
    }

    /// The packed leaf tables say what the module comment says, slot by slot.
    #[test]
    fn leaf_tables_hold_lt_and_eq() {
        for (y, table) in LEAF_TABLES.iter().enumerate() {
            for v in 0..DIGIT_VALUES {
                let slot = (table >> (2 * v)) & 3;
                assert_eq!(
                    slot,
                    (v < y) as u128 | ((v == y) as u128) << 1,
                    "y {y}, v {v}"
                );
            }
            assert_eq!(table >> (2 * DIGIT_VALUES), 0);
        }
        assert_eq!(LT_SLOTS ^ EQ_SLOTS, (1u128 << (2 * DIGIT_VALUES)) - 1);
        assert_eq!(LT_SLOTS & EQ_SLOTS, 0);
        assert_eq!(LT_SLOTS & 3, 1);
    }

    #[test]
    fn random_bools_fill_and_vary() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for n in [0usize, 1, 63, 64, 65, 1_000] {
            assert_eq!(random_bools(&mut rng, n).len(), n);
        }
        let bits = random_bools(&mut rng, 10_000);
        let ones = bits.iter().filter(|&&b| b).count();
        assert!((4_500..5_500).contains(&ones), "{ones}");
    }

    #[test]
    fn rejects_oversized_inputs() {
        let (mut ch, _peer) = crate::channel::mem_pair();
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let (mut s, mut r) = (NoOt, NoOt);
        for (values, bits) in [(vec![16u64], 4u32), (vec![0], 0), (vec![0], 65)] {
            assert!(matches!(
                millionaire(
                    Role::Server,
                    &mut s,
                    &mut r,
                    &mut ch,
                    &values,
                    bits,
                    &mut rng
                ),
                Err(OtError::InvalidInput(_))
            ));
        }
    }
}
