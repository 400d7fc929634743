//! Splitting a layer's independent ciphertext work over scoped threads: contiguous parts,
//! results in order, and one RNG per part derived from the party's seeded RNG.

use std::ops::Range;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// How many parts `len` items are split into with `threads` workers: at least one, at
/// most one per item.
pub(crate) fn part_count(len: usize, threads: usize) -> usize {
    threads.min(len).max(1)
}

/// The items of part `index` when `len` items are split into `parts` contiguous parts of
/// sizes differing by at most one.
fn part_range(len: usize, parts: usize, index: usize) -> Range<usize> {
    len * index / parts..len * (index + 1) / parts
}

/// Runs `work(part, items)` on each of `parts` contiguous parts of `0..len` and returns the
/// results in part order. One part runs on the calling thread and spawns nothing; with more,
/// part 0 runs on the calling thread and the others on scoped threads. A panic in a worker
/// is resumed on the calling thread (so callers that catch panics still do).
pub(crate) fn in_parts<T: Send>(
    len: usize,
    parts: usize,
    work: impl Fn(usize, Range<usize>) -> T + Sync,
) -> Vec<T> {
    let parts = parts.max(1);
    if parts == 1 {
        return vec![work(0, 0..len)];
    }
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..parts)
            .map(|i| s.spawn(move || work(i, part_range(len, parts, i))))
            .collect();
        let mut results = Vec::with_capacity(parts);
        results.push(work(0, part_range(len, parts, 0)));
        for handle in handles {
            match handle.join() {
                Ok(result) => results.push(result),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    })
}

/// One seed per part, drawn from `rng` before any worker starts, so a seeded party is
/// reproducible for a given part count and every worker's stream is independent.
pub(crate) fn part_seeds(rng: &mut ChaCha20Rng, parts: usize) -> Vec<[u8; 32]> {
    (0..parts)
        .map(|_| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            seed
        })
        .collect()
}

/// The RNG of a part from its seed.
pub(crate) fn part_rng(seed: [u8; 32]) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        for len in [0, 1, 2, 5, 17] {
            for threads in 1..=6 {
                let parts = part_count(len, threads);
                assert!(parts >= 1 && parts <= threads.max(1));
                let items: Vec<usize> = in_parts(len, parts, |_, range| range.collect::<Vec<_>>())
                    .into_iter()
                    .flatten()
                    .collect();
                assert_eq!(items, (0..len).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            in_parts(4, 4, |part, _| {
                if part == 3 {
                    panic!("worker 3");
                }
                part
            })
        });
        let panic = caught.expect_err("the panic propagates");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"worker 3"));
    }
}
