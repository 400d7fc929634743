//! Packing shards into array tasks and tasks into arrays: short shards share a task so one
//! task runs for about `bundle_minutes` (a cluster's scheduling overhead per task is
//! seconds), and arrays stay within the cluster's MaxArraySize.

/// Groups consecutive shards (their expected seconds, in order) into tasks of about
/// `bundle_minutes` each; every task gets at least one shard. `0` minutes: one shard per
/// task. Returns each task's shard indices.
pub fn bundle(seconds: &[f64], bundle_minutes: f64) -> Vec<Vec<usize>> {
    let budget = bundle_minutes * 60.0;
    let mut tasks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut used = 0.0;
    for (i, &s) in seconds.iter().enumerate() {
        let s = if s.is_finite() && s > 0.0 { s } else { 0.0 };
        if !current.is_empty() && (budget <= 0.0 || used + s > budget) {
            tasks.push(std::mem::take(&mut current));
            used = 0.0;
        }
        current.push(i);
        used += s;
    }
    if !current.is_empty() {
        tasks.push(current);
    }
    tasks
}

/// Splits `tasks` into arrays of at most `max_array_size` tasks (Slurm's MaxArraySize:
/// indices 0..MaxArraySize-1).
pub fn arrays<T>(tasks: Vec<T>, max_array_size: u32) -> Vec<Vec<T>> {
    let size = (max_array_size.max(1)) as usize;
    let mut arrays = Vec::new();
    let mut rest = tasks.into_iter().peekable();
    while rest.peek().is_some() {
        arrays.push(rest.by_ref().take(size).collect());
    }
    arrays
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_shards_share_tasks_and_long_ones_stand_alone() {
        assert_eq!(
            bundle(&[30.0; 5], 1.0),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        assert_eq!(bundle(&[600.0, 1.0, 1.0], 5.0), vec![vec![0], vec![1, 2]]);
        assert_eq!(bundle(&[1.0, 1.0], 0.0), vec![vec![0], vec![1]]);
        assert!(bundle(&[], 5.0).is_empty());
    }

    #[test]
    fn arrays_respect_the_cluster_limit() {
        let split = arrays((0..12).collect(), 5);
        assert_eq!(
            split.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![5, 5, 2]
        );
        assert_eq!(split[2], vec![10, 11]);
    }
}
