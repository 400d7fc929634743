//! Seeds derived from a stage's seed and labels: every network gets its own weights, every
//! run its own input, every learning search its own stream, all reproducible from the
//! manifest's one seed.

/// A seed derived from `seed` and `labels` (each label ends with a zero byte, so the
/// boundaries between labels count).
pub(crate) fn derived_seed(seed: u64, labels: &[&str]) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    for label in labels {
        hasher.update(label.as_bytes());
        hasher.update(&[0]);
    }
    let bytes = hasher.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::derived_seed;

    #[test]
    fn derived_seeds_differ_by_seed_and_labels() {
        let a = derived_seed(7, &["input", "n1", "0"]);
        assert_eq!(a, derived_seed(7, &["input", "n1", "0"]));
        assert_ne!(a, derived_seed(7, &["input", "n1", "1"]));
        assert_ne!(a, derived_seed(8, &["input", "n1", "0"]));
        assert_ne!(derived_seed(7, &["ab", "c"]), derived_seed(7, &["a", "bc"]));
    }
}
