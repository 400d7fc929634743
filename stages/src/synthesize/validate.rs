//! [`SynthesisParams::validate`]: every problem with the parameters at once, including
//! inputs too small for the requested depth, so that a study fails before it generates.

use snni_engine::network::{window_output, Shape};

use super::generate::fitting;
use super::params::Lists;
use super::{PaddingMode, Range, SynthesisParams};
use crate::ParamIssue;

impl SynthesisParams {
    /// Every problem found; empty when [`generate`] will honour all the ranges.
    ///
    /// [`generate`]: fn@super::generate
    pub fn validate(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        let uses_conv = self.families.iter().any(|family| family.has_conv());
        let uses_pool = self.families.iter().any(|f| f.pool_is_max().is_some());
        let uses_head = self.fc_head_prob > 0.0;
        for (field, value) in [
            ("h", self.input.h),
            ("w", self.input.w),
            ("c", self.input.c),
        ] {
            if value == 0 {
                issues.push(ParamIssue::new(&["input", field], "must be at least 1"));
            }
        }
        if self.families.is_empty() {
            issues.push(
                ParamIssue::new(&["families"], "must list at least one family")
                    .with_hint("choose from conv, conv_maxpool, conv_avgpool, maxpool, avgpool"),
            );
        }
        if self.layers.min == 0 {
            issues.push(ParamIssue::new(&["layers", "min"], "must be at least 1"));
        }
        if self.layers.max < self.layers.min {
            let message = format!("must be at least layers.min ({})", self.layers.min);
            issues.push(ParamIssue::new(&["layers", "max"], message));
        }
        sizes(&mut issues, "kernels", &self.kernels, uses_conv, 11);
        sizes(&mut issues, "filters", &self.filters, uses_conv, usize::MAX);
        sizes(
            &mut issues,
            "pool_kernels",
            &self.pool_kernels,
            uses_pool,
            11,
        );
        sizes(&mut issues, "strides", &self.strides, true, usize::MAX);
        sizes(
            &mut issues,
            "fc_units",
            &self.fc_units,
            uses_head,
            usize::MAX,
        );
        for (field, value) in [
            ("max_activation", self.max_activation),
            ("classes", self.classes),
            ("fc_max_inputs", self.fc_max_inputs),
        ] {
            if value == 0 {
                issues.push(ParamIssue::new(&[field], "must be at least 1"));
            }
        }
        for (field, p) in [
            ("batch_norm_prob", self.batch_norm_prob),
            ("fc_head_prob", self.fc_head_prob),
            ("poly_act_prob", self.poly_act_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                let message = format!("must be a probability between 0 and 1, got {p}");
                issues.push(ParamIssue::new(&[field], message));
            }
        }
        self.check_activation(&mut issues, uses_conv);
        self.check_poly(&mut issues);
        if issues.is_empty() {
            self.check_depth(&mut issues);
        }
        issues
    }

    /// The smallest first conv output must fit `max_activation`.
    fn check_activation(&self, issues: &mut Vec<ParamIssue>, uses_conv: bool) {
        let smallest = self.filters.iter().copied().filter(|&f| f > 0).min();
        if let (true, Some(filters), true) = (uses_conv, smallest, self.max_activation > 0) {
            let first = Shape::new(self.input.h, self.input.w, filters);
            if first.elements() > self.max_activation as u64 {
                let message = format!(
                    "is below the first conv output at stride 1 ({first} = {} elements)",
                    first.elements()
                );
                issues
                    .push(ParamIssue::new(&["max_activation"], message).with_hint(
                        "raise max_activation, or use a smaller input or fewer filters",
                    ));
            }
        }
    }

    /// Polynomial activation settings, checked only when poly_act is enabled.
    fn check_poly(&self, issues: &mut Vec<ParamIssue>) {
        if self.poly_act_prob <= 0.0 {
            return;
        }
        if self.poly_degrees.is_empty() {
            issues.push(
                ParamIssue::new(&["poly_degrees"], "must not be empty").with_hint("use [2, 3]"),
            );
        }
        for (i, &degree) in self.poly_degrees.iter().enumerate() {
            if !(2..=3).contains(&degree) {
                let message = format!("must be 2 or 3, got {degree}");
                issues.push(ParamIssue::new(&["poly_degrees", &i.to_string()], message));
            }
        }
        let Range { min, max } = self.relu_fraction;
        for (field, value) in [("min", min), ("max", max)] {
            if !(0.0..=1.0).contains(&value) {
                let message = format!("must be between 0 and 1, got {value}");
                issues.push(ParamIssue::new(&["relu_fraction", field], message));
            }
        }
        if max < min {
            let message = format!("must be at least relu_fraction.min ({min})");
            issues.push(ParamIssue::new(&["relu_fraction", "max"], message));
        }
    }

    /// Follows the most shrinking choices (largest fitting kernel, largest stride) for
    /// `layers.min` blocks of each family and reports a family whose map ends up smaller than
    /// every kernel, so that [`generate`](fn@super::generate) would stop early.
    fn check_depth(&self, issues: &mut Vec<ParamIssue>) {
        let lists = Lists::new(self);
        let stride = lists.strides.iter().copied().max().unwrap_or(1);
        let mut families = lists.families.clone();
        families.sort();
        families.dedup();
        for family in families {
            let mut map = (self.input.h, self.input.w);
            for block in 1..=self.layers.min {
                let stuck = if family.has_conv() {
                    let stuck = !shrink(&mut map, &lists.kernels, stride, self.padding);
                    if !stuck && family.pool_is_max().is_some() {
                        shrink(&mut map, &lists.pool_kernels, stride, self.padding);
                    }
                    stuck
                } else {
                    !shrink(&mut map, &lists.pool_kernels, stride, self.padding)
                };
                if stuck {
                    let message = format!(
                        "input {}x{} is too small for {} {family} blocks: block {block} finds a \
                         {}x{} map that no kernel fits",
                        self.input.h, self.input.w, self.layers.min, map.0, map.1
                    );
                    issues.push(ParamIssue::new(&["layers", "min"], message).with_hint(
                        "lower layers.min, use a larger input, add kernel 1 or stride 1, or use \
                         padding: same",
                    ));
                    return;
                }
            }
        }
    }
}

/// Reports an empty list (if `used`) and entries outside `1..=max` under `field`.
fn sizes(issues: &mut Vec<ParamIssue>, field: &str, values: &[usize], used: bool, max: usize) {
    if used && values.is_empty() {
        issues.push(ParamIssue::new(&[field], "must not be empty"));
    }
    for (i, &value) in values.iter().enumerate() {
        if value == 0 || value > max {
            let message = if max == usize::MAX {
                "must be at least 1".to_owned()
            } else {
                format!("must be between 1 and {max}, got {value}")
            };
            issues.push(ParamIssue::new(&[field, &i.to_string()], message));
        }
    }
}

/// Applies the most shrinking window to `map`; false if no kernel fits.
fn shrink(map: &mut (usize, usize), kernels: &[usize], stride: usize, mode: PaddingMode) -> bool {
    let mut options = Vec::new();
    if mode != PaddingMode::Valid {
        options.extend(fitting(*map, kernels, false));
    }
    if mode != PaddingMode::Same {
        options.extend(fitting(*map, kernels, true));
    }
    let out = |(k, p): (usize, usize)| {
        let h = window_output(map.0, k, stride, p).unwrap_or(1);
        let w = window_output(map.1, k, stride, p).unwrap_or(1);
        (h, w)
    };
    match options.into_iter().map(out).min() {
        Some(smallest) => {
            *map = smallest;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthesize::test_util::small;

    /// `path: message (hint: …)`, with list indices as `[i]`.
    fn show(issue: &ParamIssue) -> String {
        let mut text = String::new();
        for (i, part) in issue.path.iter().enumerate() {
            if part.parse::<usize>().is_ok() {
                text += &format!("[{part}]");
            } else if i == 0 {
                text += part;
            } else {
                text += &format!(".{part}");
            }
        }
        text += &format!(": {}", issue.message);
        if let Some(hint) = &issue.hint {
            text += &format!(" (hint: {hint})");
        }
        text
    }

    #[test]
    fn defaults_have_no_issues() {
        assert_eq!(SynthesisParams::default().validate(), []);
        assert_eq!(small().validate(), []);
    }

    #[test]
    fn reports_every_issue_with_its_path() {
        let params = SynthesisParams {
            input: Shape::new(0, 32, 3),
            families: vec![],
            layers: Range { min: 6, max: 4 },
            kernels: vec![3, 0, 13],
            filters: vec![],
            strides: vec![0],
            batch_norm_prob: 1.5,
            fc_head_prob: f64::NAN,
            poly_act_prob: 0.1,
            poly_degrees: vec![4],
            relu_fraction: Range { min: 0.8, max: 0.2 },
            classes: 0,
            ..SynthesisParams::default()
        };
        let issues: Vec<String> = params.validate().iter().map(show).collect();
        let expected = [
            "input.h: must be at least 1",
            "families: must list at least one family (hint: choose from conv, conv_maxpool, conv_avgpool, maxpool, avgpool)",
            "layers.max: must be at least layers.min (6)",
            "kernels[1]: must be between 1 and 11, got 0",
            "kernels[2]: must be between 1 and 11, got 13",
            "strides[0]: must be at least 1",
            "classes: must be at least 1",
            "batch_norm_prob: must be a probability between 0 and 1, got 1.5",
            "fc_head_prob: must be a probability between 0 and 1, got NaN",
            "poly_degrees[0]: must be 2 or 3, got 4",
            "relu_fraction.max: must be at least relu_fraction.min (0.8)",
        ];
        assert_eq!(issues, expected);
        let issue = &params.validate()[2];
        assert_eq!(issue.path, ["layers", "max"]);
        assert_eq!(issue.message, "must be at least layers.min (6)");
    }

    #[test]
    fn reports_inputs_too_small_for_the_depth() {
        let params = SynthesisParams {
            input: Shape::new(16, 16, 3),
            padding: PaddingMode::Valid,
            kernels: vec![5, 7],
            pool_kernels: vec![3],
            filters: vec![16],
            ..SynthesisParams::default()
        };
        let issues = params.validate();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, ["layers", "min"]);
        assert!(
            issues[0]
                .message
                .starts_with("input 16x16 is too small for 5 conv blocks"),
            "{}",
            show(&issues[0])
        );
        let params = SynthesisParams {
            input: Shape::new(600, 600, 3),
            ..SynthesisParams::default()
        };
        let issues = params.validate();
        assert_eq!(issues[0].path, ["max_activation"], "{issues:?}");
    }
}
