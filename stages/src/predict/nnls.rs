//! Non-negative least squares: min ‖Ax − b‖ subject to x ≥ 0, by the Lawson–Hanson
//! active-set method.
//!
//! Hand-written on purpose: the one maintained pure-Rust crate (`nnls`) is built on
//! `ndarray` and `ndarray-stats`, a linear-algebra stack this crate otherwise does not
//! need, and our problems are tiny in columns (≤ ~30) but long in rows (≤ ~200k). So the
//! normal equations AᵀA and Aᵀb are formed once in O(rows·cols²) and every iteration works
//! on those small matrices, solving the passive set by Cholesky with a tiny ridge.

/// Relative ridge added to the diagonal of the passive Gram block (times its trace).
const RIDGE: f64 = 1e-12;
/// Relative tolerance on the gradient (times the largest |Aᵀb|).
const TOLERANCE: f64 = 1e-10;

/// Solves min ‖Ax − b‖ subject to x ≥ 0, where `rows` are the rows of A.
///
/// Returns one coefficient per column (all zero if `rows` is empty). Runs at most
/// 3·cols outer iterations of Lawson–Hanson; the stopping tolerance on the gradient is
/// relative to the largest |Aᵀb|.
///
/// # Panics
/// If `rows` and `b` differ in length or the rows differ in length.
pub fn nnls(rows: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    assert_eq!(rows.len(), b.len(), "nnls: one target per row");
    let n = rows.first().map_or(0, Vec::len);
    let (gram, atb) = normal_equations(rows, b, n);
    nnls_gram(&gram, &atb, n)
}

/// AᵀA (row-major n×n) and Aᵀb.
fn normal_equations(rows: &[Vec<f64>], b: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut gram = vec![0.0; n * n];
    let mut atb = vec![0.0; n];
    for (row, &target) in rows.iter().zip(b) {
        assert_eq!(
            row.len(),
            n,
            "nnls: every row has the same number of columns"
        );
        for i in 0..n {
            let ri = row[i];
            if ri == 0.0 {
                continue;
            }
            atb[i] += ri * target;
            let line = &mut gram[i * n..i * n + n];
            for j in i..n {
                line[j] += ri * row[j];
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            gram[i * n + j] = gram[j * n + i];
        }
    }
    (gram, atb)
}

/// Lawson–Hanson on the normal equations: `gram` is AᵀA (n×n, row-major), `atb` is Aᵀb.
fn nnls_gram(gram: &[f64], atb: &[f64], n: usize) -> Vec<f64> {
    let mut x = vec![0.0; n];
    let scale = atb.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if n == 0 || scale == 0.0 || !scale.is_finite() {
        return x;
    }
    let tol = TOLERANCE * scale;
    let mut passive = vec![false; n];
    // Columns whose entry was just rejected by the inner solve; cleared when x changes.
    let mut blocked = vec![false; n];
    for _ in 0..3 * n {
        let gradient = |x: &[f64], j: usize| atb[j] - dot(&gram[j * n..j * n + n], x);
        let candidate = (0..n)
            .filter(|&j| !passive[j] && !blocked[j])
            .map(|j| (j, gradient(&x, j)))
            .filter(|&(_, w)| w > tol)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((entering, _)) = candidate else {
            break;
        };
        passive[entering] = true;
        let mut first = true;
        loop {
            let indices: Vec<usize> = (0..n).filter(|&j| passive[j]).collect();
            let Some(s) = solve_passive(gram, atb, n, &indices) else {
                // Numerically singular even with the ridge: leave the column out.
                passive[entering] = false;
                blocked[entering] = true;
                break;
            };
            if s.iter().all(|&v| v > 0.0) {
                for (&j, &v) in indices.iter().zip(&s) {
                    x[j] = v;
                }
                blocked.iter_mut().for_each(|b| *b = false);
                break;
            }
            if first && s[indices.iter().position(|&j| j == entering).unwrap_or(0)] <= 0.0 {
                // The entering column cannot grow: try the next best one instead.
                passive[entering] = false;
                blocked[entering] = true;
                break;
            }
            first = false;
            // Step from x towards s until the first passive coefficient reaches zero; that
            // one (and any other at or below zero) leaves the passive set.
            let (stop, alpha) = indices
                .iter()
                .zip(&s)
                .filter(|&(_, &v)| v <= 0.0)
                .map(|(&j, &v)| (j, x[j] / (x[j] - v)))
                .fold((usize::MAX, 1.0_f64), |m, c| if c.1 < m.1 { c } else { m });
            for (&j, &v) in indices.iter().zip(&s) {
                x[j] += alpha * (v - x[j]);
                if j == stop || x[j] <= 0.0 {
                    x[j] = 0.0;
                    passive[j] = false;
                }
            }
            blocked.iter_mut().for_each(|b| *b = false);
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
    x
}

/// Solves G_PP s = (Aᵀb)_P by Cholesky with a ridge of `RIDGE`·trace(G_PP).
fn solve_passive(gram: &[f64], atb: &[f64], n: usize, indices: &[usize]) -> Option<Vec<f64>> {
    let k = indices.len();
    let trace: f64 = indices.iter().map(|&j| gram[j * n + j]).sum();
    let ridge = RIDGE * trace.max(f64::MIN_POSITIVE);
    let mut l = vec![0.0; k * k];
    for (a, &i) in indices.iter().enumerate() {
        for (c, &j) in indices.iter().enumerate().take(a + 1) {
            let mut sum = gram[i * n + j] - dot(&l[a * k..a * k + c], &l[c * k..c * k + c]);
            if a == c {
                sum += ridge;
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[a * k + a] = sum.sqrt();
            } else {
                l[a * k + c] = sum / l[c * k + c];
            }
        }
    }
    // Forward then back substitution.
    let mut s: Vec<f64> = indices.iter().map(|&j| atb[j]).collect();
    for a in 0..k {
        s[a] = (s[a] - dot(&l[a * k..a * k + a], &s[..a])) / l[a * k + a];
    }
    for a in (0..k).rev() {
        let tail: f64 = (a + 1..k).map(|c| l[c * k + a] * s[c]).sum();
        s[a] = (s[a] - tail) / l[a * k + a];
    }
    Some(s)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], eps: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= eps)
    }

    #[test]
    fn unconstrained_solution_when_positive() {
        let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
        let b = [1.0, 2.0, 3.0];
        assert!(close(&nnls(&rows, &b), &[1.0, 2.0], 1e-9));
    }

    #[test]
    fn negative_direction_is_clamped() {
        // Unconstrained: x = (1, -1); constrained optimum puts the second at zero.
        let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let b = [1.0, -1.0];
        assert!(close(&nnls(&rows, &b), &[1.0, 0.0], 1e-9));
    }

    #[test]
    fn classic_textbook_case() {
        // Lawson & Hanson style: correlated columns where the active set must drop one.
        let rows = vec![vec![1.0, 1.0], vec![1.0, 2.0], vec![1.0, 3.0]];
        let b = [3.0, 2.0, 1.0];
        // Unconstrained slope is negative; best non-negative fit is the mean on column 0.
        assert!(close(&nnls(&rows, &b), &[2.0, 0.0], 1e-9));
    }

    #[test]
    fn empty_and_zero_inputs() {
        assert!(nnls(&[], &[]).is_empty());
        let rows = vec![vec![0.0, 0.0]; 3];
        assert_eq!(nnls(&rows, &[1.0, 2.0, 3.0]), vec![0.0, 0.0]);
    }

    fn random_problem(rows: usize, cols: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let a = (0..rows)
            .map(|_| (0..cols).map(|_| rng.random::<f64>() - 0.3).collect())
            .collect();
        let b = (0..rows).map(|_| rng.random::<f64>() * 4.0 - 1.0).collect();
        (a, b)
    }

    #[test]
    fn random_problems_satisfy_the_optimality_conditions() {
        for seed in 0..20 {
            let (a, b) = random_problem(60, 8, seed);
            let x = nnls(&a, &b);
            // w = Aᵀ(b − Ax): zero where x > 0, at most zero where x = 0.
            let residual: Vec<f64> = a.iter().zip(&b).map(|(r, t)| t - dot(r, &x)).collect();
            for (j, &xj) in x.iter().enumerate() {
                let w: f64 = a.iter().zip(&residual).map(|(r, e)| r[j] * e).sum();
                assert!(xj >= 0.0, "seed {seed}: x[{j}] = {xj}");
                if xj > 0.0 {
                    assert!(
                        w.abs() < 1e-8,
                        "seed {seed}: w[{j}] = {w} with x[{j}] = {xj}"
                    );
                } else {
                    assert!(w < 1e-8, "seed {seed}: w[{j}] = {w} at the bound");
                }
            }
        }
    }
}
