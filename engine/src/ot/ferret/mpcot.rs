//! Multi-point correlated OT with regular noise (Ferret §4): `t` single-point COTs, one per
//! bin of `2^h` consecutive outputs, so the receiver's choice vector has exactly one 1 per
//! bin. The sender's whole message (`t·(2h + 1)` blocks) is one frame.

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use super::super::error::{expect_len, OtError};
use super::params::LpnParams;
use super::spcot::{tree_bytes, TreeKit};

/// The sender's side: fills `out` (`n` outputs, low bits cleared) from `t·h` COT keys `q`
/// (tree-major) and returns the message. Tree `j` hashes with tweaks
/// `tweak0 + j·h ..`.
pub(crate) fn send(
    kit: &mut TreeKit,
    params: &LpnParams,
    delta: u128,
    q: &[u128],
    tweak0: u128,
    rng: &mut ChaCha20Rng,
    out: &mut [u128],
) -> Vec<u8> {
    let h = params.log_bin as usize;
    debug_assert_eq!(q.len(), params.t * h);
    debug_assert_eq!(out.len(), params.n);
    let mut msg = Vec::with_capacity(params.message_bytes());
    for (j, (leaves, q)) in out.chunks_mut(params.bin()).zip(q.chunks(h)).enumerate() {
        let tweak = tweak0.wrapping_add((j * h) as u128);
        kit.send_tree(delta, rng.random(), q, tweak, leaves, &mut msg);
    }
    msg
}

/// The receiver's side: fills `out` with `w = v ⊕ e·Δ` (low bits = the regular noise
/// vector `e`) from its `t·h` COT blocks `m` and the sender's message.
pub(crate) fn recv(
    kit: &mut TreeKit,
    params: &LpnParams,
    m: &[u128],
    tweak0: u128,
    msg: &[u8],
    out: &mut [u128],
) -> Result<(), OtError> {
    let h = params.log_bin as usize;
    debug_assert_eq!(m.len(), params.t * h);
    expect_len(msg, params.message_bytes(), "ferret multi-point cot")?;
    for (j, ((leaves, m), msg)) in out
        .chunks_mut(params.bin())
        .zip(m.chunks(h))
        .zip(msg.chunks(tree_bytes(h)))
        .enumerate()
    {
        let tweak = tweak0.wrapping_add((j * h) as u128);
        kit.recv_tree(m, tweak, msg, leaves)?;
    }
    Ok(())
}
