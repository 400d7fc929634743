//! 1-of-N OT for N = 2^k ≤ 16 with short messages (the millionaires' protocol uses N = 16
//! and 2-bit messages), built from k random 1-of-2 OTs per instance.
//!
//! Choice of construction: key combination in the style of Naor–Pinkas rather than KK13.
//! For instance j the receiver runs k random OTs with the bits `c_1..c_k` of its choice `c`
//! and learns `R_i^{c_i}`; the sender knows all `R_i^0, R_i^1` (128-bit pads from the OT
//! extension's correlation-robust hash). Message `x` is sent as
//! `m_x ⊕ ⊕_i slot_x(R_i^{x_i})`, where `slot_x` takes the `w` bits at offset `x·w` of a pad
//! (N·w ≤ 128). The receiver can unmask only `m_c`: every other `x` differs from `c` in some
//! bit `i`, so its mask contains bits of the unknown pad `R_i^{1−c_i}` in slot `x`, and slots of
//! different `x` are disjoint, so these masks are independent and uniform. It needs no hashing
//! beyond the 1-of-2 OTs and works over any [`OtSender`]/[`OtReceiver`] backend; the cost is
//! k 1-of-2 OTs (k·16 bytes of IKNP columns) plus N·w bits per instance, against 32 bytes +
//! N·w bits for KK13 with a 256-bit code — acceptable now, and a silent-OT backend makes the
//! 1-of-2 OTs nearly free. On the wire each instance is its N masked messages packed
//! into ⌈N·w/8⌉ bytes (4 bytes for N = 16, w = 2).

use super::bits::low_mask;
use super::error::{expect_len, OtError};
use super::{OtReceiver, OtSender};
use crate::channel::Channel;

/// Instances per message, to keep frames bounded.
const CHUNK: usize = 1 << 16;

fn check_params(log_n: u32, width: u32) -> Result<usize, OtError> {
    if !(1..=4).contains(&log_n) || !(1..=8).contains(&width) || (width << log_n) > 128 {
        return Err(OtError::InvalidInput(format!(
            "1-of-n ot needs 1 ≤ log n ≤ 4, 1 ≤ width ≤ 8 and n·width ≤ 128 \
             (got log n = {log_n}, width = {width})"
        )));
    }
    Ok(1usize << log_n)
}

/// Bytes per instance on the wire: its N masked messages packed, rounded up to whole bytes.
fn record_len(n: usize, width: u32) -> usize {
    (n * width as usize).div_ceil(8)
}

/// Sender side: `messages[j * N + x]` is message `x` of instance `j` (`N = 2^log_n`), each
/// below `2^width`; `messages.len()` must be a multiple of N.
pub fn send_one_of_n(
    sender: &mut dyn OtSender,
    ch: &mut dyn Channel,
    log_n: u32,
    width: u32,
    messages: &[u8],
) -> Result<(), OtError> {
    let n = check_params(log_n, width)?;
    if !messages.len().is_multiple_of(n) {
        return Err(OtError::InvalidInput(format!(
            "{} messages is not a multiple of n = {n}",
            messages.len()
        )));
    }
    if let Some(m) = messages.iter().find(|&&m| m as u64 > low_mask(width)) {
        return Err(OtError::InvalidInput(format!(
            "message {m} does not fit in {width} bits"
        )));
    }
    let count = messages.len() / n;
    send_one_of_n_with(sender, ch, log_n, width, count, |j, out| {
        out.copy_from_slice(&messages[j * n..(j + 1) * n]);
    })
}

/// Sender side with the messages produced on the fly: `messages(j, out)` writes the N
/// messages of instance `j` (each below `2^width`) into `out`. Nothing per instance is kept
/// but its few bytes on the wire.
// Inlined into the caller so the per-instance `messages` closure is inlined too, whichever
// codegen unit the caller lands in: without it, a change elsewhere in the crate that moved
// the millionaire into another unit cost the IKNP ReLU ~13 % more server CPU (issue 15).
#[inline]
pub fn send_one_of_n_with(
    sender: &mut dyn OtSender,
    ch: &mut dyn Channel,
    log_n: u32,
    width: u32,
    count: usize,
    mut messages: impl FnMut(usize, &mut [u8]),
) -> Result<(), OtError> {
    let n = check_params(log_n, width)?;
    let wmask = low_mask(width) as u128;
    let mut inst = [0u8; 16];
    send_one_of_n_packed(sender, ch, log_n, width, count, |j| {
        messages(j, &mut inst[..n]);
        let mut packed = 0u128;
        for (x, &m) in inst[..n].iter().enumerate() {
            if m as u128 > wmask {
                return Err(OtError::InvalidInput(format!(
                    "message {m} does not fit in {width} bits"
                )));
            }
            packed |= (m as u128) << (x as u32 * width);
        }
        Ok(packed)
    })
}

/// Sender side with each instance's N messages produced packed: `messages(j)` returns
/// instance `j` with message `x` in bits `x·width .. (x + 1)·width` (bits from N·width up are
/// ignored), or an error that ends the call before anything is sent. The fastest form: the
/// masks of all N slots come from k = log N selections of 128-bit pads, with no per-message
/// work (the millionaires' leaves use it, issue 15).
#[inline]
pub fn send_one_of_n_packed(
    sender: &mut dyn OtSender,
    ch: &mut dyn Channel,
    log_n: u32,
    width: u32,
    count: usize,
    mut messages: impl FnMut(usize) -> Result<u128, OtError>,
) -> Result<(), OtError> {
    let n = check_params(log_n, width)?;
    let k = log_n as usize;
    let wmask = low_mask(width) as u128;
    let bits = n as u32 * width;
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    // select[i]: the slots of the messages x whose bit i is set. Slot x of the mask is
    // ⊕_i slot_x(pads[i][x_i]), i.e. ⊕_i (pads[i][0] ⊕ (pads[i][0] ⊕ pads[i][1]) ∧ select[i]).
    let mut select = [0u128; 4];
    for (i, sel) in select.iter_mut().enumerate().take(k) {
        for x in (0..n).filter(|x| (x >> i) & 1 == 1) {
            *sel |= wmask << (x as u32 * width);
        }
    }
    // Extend chunk by chunk, keeping only the masked messages. Only the receiver writes until
    // every chunk is extended, then only the sender, so the exchange is one round trip and
    // never has both sides blocked on writes.
    let record = record_len(n, width);
    let mut out = Vec::with_capacity(count * record);
    for start in (0..count).step_by(CHUNK) {
        let len = CHUNK.min(count - start);
        let pads = sender.send_random(ch, len * k)?;
        for (jj, pads) in pads.chunks_exact(k).enumerate() {
            let mut mask = 0u128;
            for (p, sel) in pads.iter().zip(&select) {
                mask ^= p[0] ^ ((p[0] ^ p[1]) & sel);
            }
            let packed = (messages(start + jj)? ^ mask) & full;
            out.extend_from_slice(&packed.to_le_bytes()[..record]);
        }
    }
    for part in out.chunks(CHUNK * record) {
        ch.send(part)?;
    }
    ch.flush()?;
    Ok(())
}

/// Receiver side: learns message `choices[j]` (each below N) of every instance.
pub fn recv_one_of_n(
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    log_n: u32,
    width: u32,
    choices: &[u8],
) -> Result<Vec<u8>, OtError> {
    let n = check_params(log_n, width)?;
    let k = log_n as usize;
    if let Some(c) = choices.iter().find(|&&c| c as usize >= n) {
        return Err(OtError::InvalidInput(format!(
            "choice {c} is not below n = {n}"
        )));
    }
    let wmask = low_mask(width) as u128;
    let record = record_len(n, width);
    // The pad bits of the chosen slot, kept per instance while the extension runs.
    let mut slot_pads = Vec::with_capacity(choices.len());
    for chunk in choices.chunks(CHUNK) {
        let bits: Vec<bool> = chunk
            .iter()
            .flat_map(|&c| (0..k).map(move |i| (c >> i) & 1 == 1))
            .collect();
        let pads = receiver.recv_random(ch, &bits)?;
        for (&x, pads) in chunk.iter().zip(pads.chunks_exact(k)) {
            let mask = pads.iter().fold(0u128, |a, p| a ^ p);
            slot_pads.push((mask >> (x as u32 * width) & wmask) as u8);
        }
    }
    let mut out = Vec::with_capacity(choices.len());
    for (chunk, slot_pads) in choices.chunks(CHUNK).zip(slot_pads.chunks(CHUNK)) {
        let msg = ch.recv()?;
        expect_len(&msg, chunk.len() * record, "1-of-n masked messages")?;
        for ((&x, rec), pad) in chunk.iter().zip(msg.chunks_exact(record)).zip(slot_pads) {
            let mut bytes = [0u8; 16];
            bytes[..record].copy_from_slice(rec);
            let shift = x as u32 * width;
            out.push((u128::from_le_bytes(bytes) >> shift & wmask) as u8 ^ pad);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::bits::unpack;
    use crate::ot::test_util::{run_mem, run_tcp, NoOt};
    use crate::ot::{IknpReceiver, IknpSender};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn check(seed: u64, count: usize, log_n: u32, width: u32, tcp: bool) {
        let n = 1usize << log_n;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let messages: Vec<u8> = (0..count * n)
            .map(|_| (rng.random::<u64>() & low_mask(width)) as u8)
            .collect();
        let choices: Vec<u8> = (0..count).map(|_| rng.random_range(0..n as u8)).collect();
        let server = |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
            let mut s = IknpSender::setup(ch, 2, &mut rng).unwrap();
            send_one_of_n(&mut s, ch, log_n, width, &messages).unwrap()
        };
        let client = |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed + 2);
            let mut r = IknpReceiver::setup(ch, 2, &mut rng).unwrap();
            recv_one_of_n(&mut r, ch, log_n, width, &choices).unwrap()
        };
        let ((), got) = if tcp {
            run_tcp(server, client)
        } else {
            run_mem(server, client)
        };
        for j in 0..count {
            assert_eq!(
                got[j],
                messages[j * n + choices[j] as usize],
                "instance {j}"
            );
        }
    }

    #[test]
    fn one_of_16_delivers_the_chosen_message() {
        for seed in [1u64, 2, 3] {
            check(seed, 10_000, 4, 2, false);
        }
        check(4, 10_000, 4, 8, false);
    }

    #[test]
    fn other_sizes_and_multiple_chunks() {
        check(5, 1_000, 1, 1, false);
        check(6, 1_000, 3, 5, false);
        check(7, CHUNK + 17, 4, 2, true);
    }

    /// The receiver's pads unmask only its choice: with all-zero messages every other entry
    /// decodes to a mask that is nonzero for many instances.
    #[test]
    fn other_entries_stay_masked() {
        let count = 2_000;
        let messages = vec![0u8; count * 16];
        let ((), (pads, masked)) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(8);
                let mut s = IknpSender::setup(ch, 2, &mut rng).unwrap();
                send_one_of_n(&mut s, ch, 4, 8, &messages).unwrap();
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(9);
                let mut r = IknpReceiver::setup(ch, 2, &mut rng).unwrap();
                let bits: Vec<bool> = (0..count * 4).map(|i| (3 >> (i % 4)) & 1 == 1).collect();
                let pads = r.recv_random(ch, &bits).unwrap();
                let masked = unpack(&ch.recv().unwrap(), 8, count * 16, "t").unwrap();
                (pads, masked)
            },
        );
        let mut nonzero = 0;
        for j in 0..count {
            let mask = pads[j * 4..(j + 1) * 4].iter().fold(0u128, |a, p| a ^ p);
            for x in 0..16usize {
                let guess = masked[j * 16 + x] ^ ((mask >> (x * 8)) as u64 & 0xff);
                if x == 3 {
                    assert_eq!(guess, 0);
                } else if guess != 0 {
                    nonzero += 1;
                }
            }
        }
        // Wrong entries decode to uniform bytes: about 1/256 of them are zero by chance.
        assert!(nonzero > count * 15 * 99 / 100, "{nonzero}");
    }

    /// The packed sender (the fast path every caller goes through) puts on the wire exactly
    /// what the construction says, computed here the slow way: per message `x` its own mask
    /// `⊕_i pads[i][x_i]`, from the same seeded pads.
    #[test]
    fn packed_sender_matches_the_construction() {
        for (log_n, width) in [(4u32, 2u32), (3, 1), (4, 8), (2, 5), (1, 3)] {
            let n = 1usize << log_n;
            let k = log_n as usize;
            let count = 3_000;
            let mut rng = ChaCha20Rng::seed_from_u64(40 + log_n as u64 + width as u64);
            let messages: Vec<u8> = (0..count * n)
                .map(|_| (rng.random::<u64>() & low_mask(width)) as u8)
                .collect();
            let choices: Vec<u8> = (0..count).map(|_| rng.random_range(0..n as u8)).collect();
            let wire = |fast: bool| {
                let ((), wire) = run_mem(
                    |ch| {
                        let mut rng = ChaCha20Rng::seed_from_u64(41);
                        let mut s = IknpSender::setup(ch, 2, &mut rng).unwrap();
                        if fast {
                            return send_one_of_n(&mut s, ch, log_n, width, &messages).unwrap();
                        }
                        let pads = s.send_random(ch, count * k).unwrap();
                        let mut out = Vec::new();
                        for (j, pads) in pads.chunks_exact(k).enumerate() {
                            let mut packed = 0u128;
                            for x in 0..n {
                                let mask = (0..k).fold(0u128, |a, i| a ^ pads[i][(x >> i) & 1]);
                                let shift = x as u32 * width;
                                let slot = (mask >> shift) as u64 & low_mask(width);
                                packed |= ((messages[j * n + x] as u64 ^ slot) as u128) << shift;
                            }
                            out.extend_from_slice(&packed.to_le_bytes()[..record_len(n, width)]);
                        }
                        ch.send(&out).unwrap();
                        ch.flush().unwrap();
                    },
                    |ch| {
                        let mut rng = ChaCha20Rng::seed_from_u64(42);
                        let mut r = IknpReceiver::setup(ch, 2, &mut rng).unwrap();
                        let bits: Vec<bool> = choices
                            .iter()
                            .flat_map(|&c| (0..k).map(move |i| (c >> i) & 1 == 1))
                            .collect();
                        r.recv_random(ch, &bits).unwrap();
                        ch.recv().unwrap()
                    },
                );
                wire
            };
            assert_eq!(wire(true), wire(false), "log n {log_n}, width {width}");
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let (mut cs, _cr) = crate::channel::mem_pair();
        let mut s = NoOt;
        for (log_n, width, msgs) in [
            (5u32, 2u32, vec![0u8; 32]),
            (4, 9, vec![0; 16]),
            (4, 2, vec![0; 15]),
            (4, 2, vec![4; 16]),
        ] {
            assert!(matches!(
                send_one_of_n(&mut s, &mut cs, log_n, width, &msgs),
                Err(OtError::InvalidInput(_))
            ));
        }
    }
}
