//! What the learning kinds' parameter checks share: reading the manifest's form with serde
//! ([`decode_raw`]), whole numbers within their range ([`whole`]) and the `views` list
//! ([`check_views`]). Each kind decodes its own raw struct (every field optional, unknown
//! keys rejected) with [`decode_raw`], checks it with these and builds its canonical
//! `Params`, so every issue is reported in one pass with its key path.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{decode_params_lenient, ParamIssue, VIEW_NAMES};

/// The least training rows a layer model may ask for (`min_rows`).
pub const MIN_ROWS: i64 = 2;
/// The default of `min_rows`.
pub const DEFAULT_MIN_ROWS: i64 = 20;
/// Largest value of the counts that have no natural bound (`min_rows`, `max_epochs`, …).
pub const UNBOUNDED: i64 = u32::MAX as i64;

/// Decodes a learning stage's raw `params` (`null`: none given) into its raw struct,
/// reporting every key serde rejects (unknown keys, wrong types) at its path; the value
/// decoded once those keys were taken out comes back too, so the caller goes on checking
/// the rest in the same pass.
pub fn decode_raw<T: DeserializeOwned>(params: &Value) -> (Option<T>, Vec<ParamIssue>) {
    match params {
        Value::Null => decode_params_lenient(&Value::Object(Default::default())),
        Value::Object(_) => decode_params_lenient(params),
        other => (
            None,
            vec![ParamIssue::new(
                &[],
                format!("must be a mapping of parameters, got {other}"),
            )],
        ),
    }
}

/// A whole-number parameter at `path`: `value` (its default when absent) if it lies in
/// `min..=max`, else an issue naming the range (and the default in its place). An issue
/// serde already reported at `path` (not a whole number at all) gets the range added.
pub fn whole(
    issues: &mut Vec<ParamIssue>,
    path: &[&str],
    value: Option<i64>,
    default: i64,
    (min, max): (i64, i64),
) -> i64 {
    let range = if max >= UNBOUNDED {
        format!("of at least {min}")
    } else {
        format!("in {min}..={max}")
    };
    for issue in issues.iter_mut().filter(|i| i.path == path) {
        if let Some(got) = issue.message.strip_prefix("must be a whole number, ") {
            issue.message = format!("must be a whole number {range}, {got}");
        }
    }
    let value = value.unwrap_or(default);
    if (min..=max).contains(&value) {
        value
    } else {
        issues.push(ParamIssue::new(
            path,
            format!("must be a whole number {range}, got {value}"),
        ));
        default
    }
}

/// The `views` parameter: the layer types to model, each a known one and named once (all
/// of them when absent).
pub fn check_views(issues: &mut Vec<ParamIssue>, views: Option<Vec<String>>) -> Vec<String> {
    let hint = || format!("layer types: {}", VIEW_NAMES.join(", "));
    for issue in issues
        .iter_mut()
        .filter(|i| i.path.first().is_some_and(|key| key == "views"))
    {
        issue.hint.get_or_insert_with(hint);
    }
    let Some(names) = views else {
        return VIEW_NAMES.iter().map(|v| v.to_string()).collect();
    };
    if names.is_empty() {
        issues.push(
            ParamIssue::new(&["views"], "must name at least one layer type")
                .with_hint("leave `views` out to model every layer type"),
        );
    }
    for (i, name) in names.iter().enumerate() {
        let index = i.to_string();
        if !VIEW_NAMES.contains(&name.as_str()) {
            issues.push(
                ParamIssue::new(&["views", &index], format!("`{name}` is not a layer type"))
                    .with_hint(hint()),
            );
        } else if names[..i].contains(name) {
            issues.push(ParamIssue::new(
                &["views", &index],
                format!("`{name}` is listed twice"),
            ));
        }
    }
    names
}

/// A positive, finite number at `path` (a learning rate), else an issue.
pub fn positive(issues: &mut Vec<ParamIssue>, path: &[&str], value: f64) {
    if !(value > 0.0 && value.is_finite()) {
        issues.push(ParamIssue::new(
            path,
            format!("must be a positive number, got {value}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        views: Option<Vec<String>>,
        min_rows: Option<i64>,
    }

    /// Every issue of `params` as `path: message`.
    fn issues(params: Value) -> Vec<String> {
        let (raw, mut issues) = decode_raw::<Raw>(&params);
        if let Some(raw) = raw {
            check_views(&mut issues, raw.views);
            whole(
                &mut issues,
                &["min_rows"],
                raw.min_rows,
                DEFAULT_MIN_ROWS,
                (MIN_ROWS, UNBOUNDED),
            );
        }
        issues.iter().map(ParamIssue::located).collect()
    }

    #[test]
    fn views_default_to_all_and_unknown_or_repeated_ones_are_named() {
        let mut none = Vec::new();
        assert_eq!(check_views(&mut none, None).len(), VIEW_NAMES.len());
        assert!(none.is_empty());
        let mut found = Vec::new();
        let views = ["conv", "convv", "conv"].map(String::from).to_vec();
        check_views(&mut found, Some(views));
        assert_eq!(found[0].path, ["views", "1"]);
        assert!(found[0].hint.as_ref().unwrap().contains("conv"));
        assert_eq!(found[1].path, ["views", "2"]);
        assert_eq!(found[1].message, "`conv` is listed twice");
        assert_eq!(
            issues(json!({"views": []})),
            ["`views`: must name at least one layer type"]
        );
    }

    #[test]
    fn every_issue_is_reported_at_its_key_in_the_manifests_words() {
        assert_eq!(issues(Value::Null), Vec::<String>::new());
        assert_eq!(
            issues(json!({"views": "conv", "min_rows": 1, "min_row": 3})),
            [
                "`min_row`: unknown field `min_row`, expected `views` or `min_rows`",
                "`views`: must be a sequence, got the text \"conv\"",
                "`min_rows`: must be a whole number of at least 2, got 1",
            ]
        );
        assert_eq!(
            issues(json!({"min_rows": 2.5})),
            ["`min_rows`: must be a whole number of at least 2, got 2.5"]
        );
        assert_eq!(
            issues(json!([1])),
            ["must be a mapping of parameters, got [1]"]
        );
    }
}
