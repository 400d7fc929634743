//! Fuzz targets (proptest, stable toolchain) for the two text formats a user hands `snni`:
//! manifests and network files. Inputs are arbitrary text, and mutations of valid files
//! with YAML's sharp edges spliced in (brackets, anchors and aliases, merge keys, tags,
//! repeated lines). Every input must end in a study or in diagnostics — never a panic —
//! and every rendered diagnostic line must stay short.
//!
//! `PROPTEST_CASES=N` sets the cases (default 256); BENCHMARKS.md, "Fuzzing", has the
//! longer command and what it found.

use std::path::Path;

use proptest::prelude::*;
use snni_pipeline::commands::parse_network;
use snni_pipeline::manifest::{check, SourceFile, MESSAGE_WIDTH, SNIPPET_WIDTH};

const SMOKE: &str = include_str!("../../manifests/smoke.yaml");

const NETWORK: &str = "name: tiny
input: {h: 16, w: 16, c: 3}
layers:
  - {name: conv1, kind: conv, filters: 8, kernel: 3, stride: 2, padding: 1, bias: true}
  - {name: relu1, kind: relu}
  - {name: e1, kind: conv, filters: 8, kernel: 1}
  - {name: e3, kind: conv, filters: 8, kernel: [3, 3], padding: 1, inputs: [relu1]}
  - {name: cat, kind: concat, inputs: [e1, e3]}
  - {name: gap, kind: global_avg_pool}
  - {name: flat, kind: flatten}
  - {name: fc, kind: fc, units: 10}
";

/// Snippets that stress YAML parsers and the checks around them.
const SHARP: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "\n",
    "  ",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "? ",
    "'",
    "\"",
    "#",
    ".nan",
    "-.inf",
    "-1",
    "99999999999999999999",
    "0x1F",
    "~",
    "\t",
    "\u{0}",
    "\u{feff}",
    "é",
    "[[[[[[[[[[[[[[[[[[[[",
    "a: &a [*a]\n",
];

/// `base` with up to 8 edits: a sharp snippet inserted, a line repeated, or bytes dropped.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let edit = (0usize..3, any::<prop::sample::Index>(), 0..SHARP.len());
    prop::collection::vec(edit, 0..8).prop_map(move |edits| {
        let mut text = base.to_string();
        for (kind, at, sharp) in edits {
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match kind {
                0 => text.insert_str(at, SHARP[sharp]),
                1 => {
                    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                    let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
                    let line = text[start..end].to_string();
                    text.insert_str(end, &line);
                }
                _ => {
                    let mut end = (at + 1 + sharp).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
            }
        }
        text
    })
}

fn text(base: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mutated(base),
        1 => any::<String>(),
        1 => prop::collection::vec(prop::sample::select(SHARP), 0..64)
            .prop_map(|parts| parts.concat()),
    ]
}

/// The longest line a rendered diagnostic may have: a message (cut to MESSAGE_WIDTH) with
/// its `error[E000]: ` prefix, or a snippet (cut to SNIPPET_WIDTH) with its gutter.
const LINE_LIMIT: usize = MESSAGE_WIDTH + 40;

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn manifests(text in text(SMOKE)) {
        let source = SourceFile::new(Path::new("fuzz.yaml"), text);
        if let Err(errors) = check(source, None) {
            let rendered = errors.to_string();
            for line in rendered.lines() {
                prop_assert!(line.chars().count() <= LINE_LIMIT, "{line}");
            }
            prop_assert!(!errors.diagnostics.is_empty());
        }
    }

    #[test]
    fn network_files(text in text(NETWORK)) {
        for name in ["fuzz.yaml", "fuzz.json"] {
            if let Ok(network) = parse_network(name, &text) {
                // Validation never panics either, whatever the numbers.
                let _ = network.validate();
            }
        }
    }
}

// A snippet line (gutter, window, ellipses) is within the limit the fuzzer checks.
const _: () = assert!(SNIPPET_WIDTH + 20 < LINE_LIMIT);
