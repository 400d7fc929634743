//! The stage graph: dependency order, and cycles reported as `a -> b -> a`.

use std::collections::HashMap;

use super::diagnostic::{Code, Diagnostic};
use super::raw::RawStage;
use super::source::{join, SourceFile};

/// Orders stages so that each comes after the stages it needs (file order breaks ties),
/// reporting a cycle as `a -> b -> a`.
pub(super) fn topological_order(
    source: &SourceFile,
    stages: &[(String, RawStage)],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let needs: Vec<Vec<usize>> = stages
        .iter()
        .map(|(name, s)| {
            s.needs
                .iter()
                .filter(|n| *n != name)
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; stages.len()];
    let mut order = Vec::new();
    let mut cycle_found = false;
    fn visit(
        i: usize,
        needs: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        path.push(i);
        for &j in &needs[i] {
            if state[j] == 1 {
                let start = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0 {
                if let Some(cycle) = visit(j, needs, state, path, order) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        None
    }
    for i in 0..stages.len() {
        if state[i] == 0 {
            let mut path = Vec::new();
            if let Some(cycle) = visit(i, &needs, &mut state, &mut path, &mut order) {
                cycle_found = true;
                let names: Vec<&str> = cycle.iter().map(|&k| stages[k].0.as_str()).collect();
                let first = names[0];
                diags.push(
                    Diagnostic::new(
                        Code::Cycle,
                        source.key_span(&join(&join("stages", first), "needs")),
                        format!("dependency cycle: {}", names.join(" -> ")),
                    )
                    .help("remove one of these `needs` so the stages form a DAG"),
                );
                for &k in &cycle {
                    state[k] = 2;
                }
            }
        }
    }
    (!cycle_found).then(|| order.into_iter().map(|i| stages[i].0.clone()).collect())
}
