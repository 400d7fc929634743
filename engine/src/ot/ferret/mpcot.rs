//! Multi-point correlated OT with regular noise (Ferret §4): `t` single-point COTs, one per
//! bin of `2^h` consecutive outputs, so the receiver's choice vector has exactly one 1 per
//! bin. The sender's message (`t·(h − 1)` blocks) goes out in frames of
//! [`TREES_PER_FRAME`] trees, each sent (and flushed) as soon as its trees are expanded,
//! so the receiver expands the trees of one frame while the sender computes the next
//! (issue 15, both parties at once) instead of waiting for the whole iteration.

use super::super::error::{expect_len, OtError};
use super::params::{LpnParams, TREES_PER_FRAME};
use super::spcot::{tree_bytes, TreeKit};

/// The sender's side: fills `out` (`n` outputs, low bits cleared) from `t·h` COT keys `q`
/// (tree-major) and hands the message to `emit`, one frame per [`TREES_PER_FRAME`] trees
/// as they are ready.
pub(crate) fn send(
    kit: &mut TreeKit,
    params: &LpnParams,
    delta: u128,
    q: &[u128],
    out: &mut [u128],
    emit: &mut dyn FnMut(&[u8]) -> Result<(), OtError>,
) -> Result<(), OtError> {
    let h = params.log_bin as usize;
    debug_assert_eq!(q.len(), params.t * h);
    debug_assert_eq!(out.len(), params.n);
    let mut msg = Vec::with_capacity(params.largest_frame());
    let span = TREES_PER_FRAME * params.bin();
    for (leaves, q) in out.chunks_mut(span).zip(q.chunks(TREES_PER_FRAME * h)) {
        msg.clear();
        for (leaves, q) in leaves.chunks_mut(params.bin()).zip(q.chunks(h)) {
            kit.send_tree(delta, q, leaves, &mut msg);
        }
        emit(&msg)?;
    }
    Ok(())
}

/// The receiver's side: fills `out` from its `t·h` COT blocks `m` and the sender's frames,
/// taken from `next` one at a time, each checked against its expected length.
pub(crate) fn recv(
    kit: &mut TreeKit,
    params: &LpnParams,
    m: &[u128],
    next: &mut dyn FnMut() -> Result<Vec<u8>, OtError>,
    out: &mut [u128],
) -> Result<(), OtError> {
    let h = params.log_bin as usize;
    debug_assert_eq!(m.len(), params.t * h);
    let span = TREES_PER_FRAME * params.bin();
    for (leaves, m) in out.chunks_mut(span).zip(m.chunks(TREES_PER_FRAME * h)) {
        let msg = next()?;
        let trees = leaves.len() / params.bin();
        expect_len(&msg, trees * tree_bytes(h), "ferret multi-point cot frame")?;
        for ((leaves, m), msg) in leaves
            .chunks_mut(params.bin())
            .zip(m.chunks(h))
            .zip(msg.chunks(tree_bytes(h)))
        {
            kit.recv_tree(m, msg, leaves)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::spcot::CHOICE_BIT;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Over several frames (the last one short), every bin is a single-point COT and the
    /// frames have the sizes the planner counts.
    #[test]
    fn frames_carry_every_bin() {
        let params = LpnParams {
            n: 300 * 8,
            k: 64,
            t: 300,
            log_bin: 3,
        };
        assert_eq!(params.frames(), 3);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let delta = rng.random::<u128>() | CHOICE_BIT;
        let h = params.log_bin as usize;
        let q: Vec<u128> = (0..params.t * h)
            .map(|_| rng.random::<u128>() & !CHOICE_BIT)
            .collect();
        let m: Vec<u128> = q
            .iter()
            .map(|&k| if rng.random() { k ^ delta } else { k })
            .collect();
        let (mut s, mut r) = (TreeKit::new(), TreeKit::new());
        let mut frames = std::collections::VecDeque::new();
        let mut v = vec![0u128; params.n];
        send(&mut s, &params, delta, &q, &mut v, &mut |f| {
            frames.push_back(f.to_vec());
            Ok(())
        })
        .unwrap();
        let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(sizes.len(), params.frames());
        assert_eq!(sizes[0], params.largest_frame());
        assert_eq!(sizes.iter().sum::<usize>(), params.message_bytes());
        let mut w = vec![0u128; params.n];
        let mut queue = frames.clone();
        recv(
            &mut r,
            &params,
            &m,
            &mut || Ok(queue.pop_front().unwrap()),
            &mut w,
        )
        .unwrap();
        for (bin, (v, w)) in v
            .chunks(params.bin())
            .zip(w.chunks(params.bin()))
            .enumerate()
        {
            let hits: Vec<usize> = (0..params.bin()).filter(|&j| v[j] != w[j]).collect();
            assert_eq!(hits.len(), 1, "bin {bin}");
            assert_eq!(v[hits[0]] ^ w[hits[0]], delta, "bin {bin}");
        }
        // A frame of the wrong length is an error, not a panic.
        let mut short = frames.clone();
        short[1].pop();
        let err = recv(
            &mut r,
            &params,
            &m,
            &mut || Ok(short.pop_front().unwrap()),
            &mut w,
        );
        assert!(matches!(err, Err(OtError::Malformed(_))), "{err:?}");
    }
}
