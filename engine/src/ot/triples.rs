//! Bit (AND) triples from random OT, two OTs per group of triples (as in CrypTFlow2 and
//! Cheetah), and AND gates on XOR-shared bits.
//!
//! Each party holds shares `(a_p, b_p, c_p)` with `(a_0 ⊕ a_1) ∧ (b_0 ⊕ b_1) = c_0 ⊕ c_1`.
//! In one random OT party p sends (pads `r^0, r^1`) and the peer receives with choice
//! `a_{1−p}`: bit m of `b_p = r^0 ⊕ r^1` and of `u_p = r^0`, with the peer's output
//! `v = r^{a}`, gives `u_p ⊕ v = a_{1−p} ∧ b_p` bitwise. Running it once in each direction
//! covers both cross terms: `c_p = a_p ∧ b_p ⊕ u_p ⊕ v_p`. No traffic beyond the OTs.
//!
//! Since one OT yields up to 128 bits of `b`, a group of `width` triples sharing the first
//! factor `a` costs the same two OTs as a single triple. The millionaires' tree uses width 2:
//! both AND gates of a tree node share the factor `eq_hi`. A shared factor is opened once.

use super::bits::{pack_bools, unpack_bools};
use super::error::OtError;
use super::{OtReceiver, OtSender, Role};
use crate::channel::Channel;

/// Triple groups per OT extension call, to bound memory.
const CHUNK: usize = 1 << 18;

/// Most triples a group can hold: the bits of one 128-bit OT pad.
pub const MAX_TRIPLE_WIDTH: usize = 128;

/// One party's shares of a batch of bit-triple groups: group g is the `width` triples
/// `(a[g], b[g·width + m], c[g·width + m])`, m < width, all with the same first factor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitTriples {
    /// Triples per group.
    pub width: usize,
    /// Shares of the first factors, one per group.
    pub a: Vec<bool>,
    /// Shares of the second factors, `width` per group.
    pub b: Vec<bool>,
    /// Shares of the products, `width` per group.
    pub c: Vec<bool>,
}

impl BitTriples {
    /// Number of groups.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// Generates `groups` groups of `width` bit triples (width 1: independent triples); both
/// parties call it with their own role and the OT sender and receiver paired with the
/// peer's (e.g. the two halves of an [`super::IknpPair`]). Costs two random-choice random
/// OTs per group (free of traffic with a silent backend).
pub fn bit_triples(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    groups: usize,
    width: usize,
) -> Result<BitTriples, OtError> {
    if !(1..=MAX_TRIPLE_WIDTH).contains(&width) {
        return Err(OtError::InvalidInput(format!(
            "triple groups hold 1 to {MAX_TRIPLE_WIDTH} triples, got {width}"
        )));
    }
    // Chunked so that only `width` bits per group and OT are kept, not the 128-bit pads.
    let bit = |x: u128, m: usize| (x >> m) & 1 == 1;
    let mut a = Vec::with_capacity(groups);
    let mut b = Vec::with_capacity(groups * width);
    let mut u = Vec::with_capacity(groups * width);
    let mut v = Vec::with_capacity(groups * width);
    let mut as_sender = |ch: &mut dyn Channel| -> Result<(), OtError> {
        for start in (0..groups).step_by(CHUNK) {
            let pads = sender.send_random_choice(ch, CHUNK.min(groups - start))?;
            for [r0, r1] in pads {
                b.extend((0..width).map(|m| bit(r0 ^ r1, m)));
                u.extend((0..width).map(|m| bit(r0, m)));
            }
        }
        Ok(())
    };
    // The first factor is the receiver's random choice: no derandomisation bit is sent.
    let mut as_receiver = |ch: &mut dyn Channel| -> Result<(), OtError> {
        for start in (0..groups).step_by(CHUNK) {
            let (choices, got) = receiver.recv_random_choice(ch, CHUNK.min(groups - start))?;
            a.extend(choices);
            for got in got {
                v.extend((0..width).map(|m| bit(got, m)));
            }
        }
        Ok(())
    };
    match role {
        Role::Server => {
            as_sender(ch)?;
            as_receiver(ch)?;
        }
        Role::Client => {
            as_receiver(ch)?;
            as_sender(ch)?;
        }
    }
    let c = (0..groups * width)
        .map(|i| (a[i / width] & b[i]) ^ u[i] ^ v[i])
        .collect();
    Ok(BitTriples { width, a, b, c })
}

/// Evaluates AND gates on XOR-shared bits, `z[g·w + m] = u[g] ∧ v[g·w + m]` with `w` the
/// triples' width, consuming the groups `offset..offset + u.len()`: one exchange of the
/// masked inputs `u ⊕ a`, `v ⊕ b`. The server sends first and the client answers, so large
/// batches never have both parties blocked on writes.
pub fn and_gates(
    role: Role,
    ch: &mut dyn Channel,
    u: &[bool],
    v: &[bool],
    triples: &BitTriples,
    offset: usize,
) -> Result<Vec<bool>, OtError> {
    let groups = u.len();
    let w = triples.width;
    let n = groups * w;
    if v.len() != n || offset + groups > triples.len() {
        return Err(OtError::InvalidInput(format!(
            "{groups} groups of {w} and gates with {} second inputs and {} triple groups left",
            v.len(),
            triples.len().saturating_sub(offset)
        )));
    }
    let a = &triples.a[offset..offset + groups];
    let b = &triples.b[offset * w..offset * w + n];
    let c = &triples.c[offset * w..offset * w + n];
    let mut opened: Vec<bool> = Vec::with_capacity(groups + n);
    opened.extend(u.iter().zip(a).map(|(x, y)| x ^ y));
    opened.extend(v.iter().zip(b).map(|(x, y)| x ^ y));
    let mine = pack_bools(&opened);
    let theirs = role.exchange(ch, &mine)?;
    let theirs = unpack_bools(&theirs, groups + n, "and-gate openings")?;
    let server = role == Role::Server;
    Ok((0..n)
        .map(|i| {
            let g = i / w;
            let d = opened[g] ^ theirs[g];
            let e = opened[groups + i] ^ theirs[groups + i];
            c[i] ^ (d & b[i]) ^ (e & a[g]) ^ (server & d & e)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::test_util::{run_mem, run_tcp};
    use crate::ot::IknpPair;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn triples(
        role: Role,
        seed: u64,
        groups: usize,
        width: usize,
        ch: &mut dyn Channel,
    ) -> BitTriples {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut p = IknpPair::setup(role, ch, 4, &mut rng).unwrap();
        bit_triples(role, &mut p.sender, &mut p.receiver, ch, groups, width).unwrap()
    }

    fn check(t0: &BitTriples, t1: &BitTriples) {
        assert_eq!(t0.len(), t1.len());
        let w = t0.width;
        assert_eq!(t0.b.len(), t0.len() * w);
        let n = t0.b.len();
        let mut ones = [0usize; 3];
        for i in 0..n {
            let (a, b) = (t0.a[i / w] ^ t1.a[i / w], t0.b[i] ^ t1.b[i]);
            assert_eq!(a & b, t0.c[i] ^ t1.c[i], "triple {i}");
            ones[0] += a as usize;
            ones[1] += b as usize;
            ones[2] += (a & b) as usize;
        }
        // The factors are uniform: roughly half ones, a quarter of products.
        assert!(ones[0] > n * 45 / 100 && ones[0] < n * 55 / 100);
        assert!(ones[1] > n * 45 / 100 && ones[1] < n * 55 / 100);
        assert!(ones[2] > n * 20 / 100 && ones[2] < n * 30 / 100);
    }

    #[test]
    fn triples_multiply() {
        for (seed, width) in [(1u64, 1usize), (2, 1), (3, 2), (4, 128)] {
            let (t0, t1) = run_mem(
                |ch| triples(Role::Server, seed, 10_000, width, ch),
                |ch| triples(Role::Client, seed + 50, 10_000, width, ch),
            );
            check(&t0, &t1);
        }
    }

    /// Over TCP, and more groups than one extension chunk.
    #[test]
    fn triples_multiply_over_tcp() {
        let groups = CHUNK + 1_000;
        let (t0, t1) = run_tcp(
            |ch| triples(Role::Server, 9, groups, 1, ch),
            |ch| triples(Role::Client, 10, groups, 1, ch),
        );
        check(&t0, &t1);
    }

    #[test]
    fn and_gates_compute_and() {
        for width in [1usize, 2, 3] {
            let groups = 3_000;
            let n = groups * width;
            let mut rng = ChaCha20Rng::seed_from_u64(30 + width as u64);
            let mut bits = |k: usize| -> Vec<bool> { (0..k).map(|_| rng.random()).collect() };
            let (u, v, u0, v0) = (bits(groups), bits(n), bits(groups), bits(n));
            let u1: Vec<bool> = u.iter().zip(&u0).map(|(x, y)| x ^ y).collect();
            let v1: Vec<bool> = v.iter().zip(&v0).map(|(x, y)| x ^ y).collect();
            let (z0, z1) = run_mem(
                |ch| {
                    let t = triples(Role::Server, 31, groups + 10, width, ch);
                    and_gates(Role::Server, ch, &u0, &v0, &t, 10).unwrap()
                },
                |ch| {
                    let t = triples(Role::Client, 32, groups + 10, width, ch);
                    and_gates(Role::Client, ch, &u1, &v1, &t, 10).unwrap()
                },
            );
            for i in 0..n {
                assert_eq!(
                    z0[i] ^ z1[i],
                    u[i / width] & v[i],
                    "gate {i}, width {width}"
                );
            }
        }
    }

    #[test]
    fn bad_shapes_are_rejected() {
        let (mut ch, _peer) = crate::channel::mem_pair();
        let t = BitTriples {
            width: 2,
            a: vec![false; 4],
            b: vec![false; 8],
            c: vec![false; 8],
        };
        // Wrong number of second inputs, and more groups than remain.
        assert!(and_gates(Role::Server, &mut ch, &[true; 2], &[true; 3], &t, 0).is_err());
        assert!(and_gates(Role::Server, &mut ch, &[true; 2], &[true; 4], &t, 3).is_err());
    }
}
