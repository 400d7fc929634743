//! Every manifest in `manifests/` validates, and every invalid fixture gives exactly its
//! expected, positioned errors.
//!
//! Expected texts live beside the fixtures as `NAME.expected`. After an intended change
//! of wording, regenerate them with `SNNI_BLESS=1 cargo test -p snni-pipeline --test
//! manifests` and review the diff.

use std::path::{Path, PathBuf};

use snni_pipeline::manifest::{check, read_source, LoadError, SourceFile};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

#[test]
fn every_example_manifest_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            seen += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(errors) = check(SourceFile::new(&path, text), None) {
                panic!("{} is invalid:\n{errors}", path.display());
            }
        }
    }
    assert!(
        seen >= 2,
        "expected at least smoke.yaml and paper.yaml in manifests/"
    );
}

#[test]
fn invalid_fixtures_give_their_expected_errors() {
    let bless = std::env::var_os("SNNI_BLESS").is_some();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 15,
        "the issue asks for at least 15 invalid manifests"
    );
    let mut mismatches = Vec::new();
    for path in &paths {
        let name = Path::new(path.file_name().unwrap());
        let actual = match read_source(path, name) {
            Ok(source) => match check(source, None) {
                Ok(_) => format!("unexpectedly valid: {}\n", name.display()),
                Err(errors) => format!("{errors}\n"),
            },
            Err(LoadError::Invalid(errors)) => format!("{errors}\n"),
            Err(other) => panic!("{}: {other}", name.display()),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "--- {}\nexpected:\n{expected}\nactual:\n{actual}",
                name.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} fixtures differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn endless_binary_or_deeply_nested_input_is_refused_at_once() {
    // `snni check /dev/urandom` used to read forever: only MAX_BYTES are ever read.
    let Err(LoadError::Invalid(errors)) = read_source(Path::new("/dev/urandom"), Path::new("r"))
    else {
        panic!("/dev/urandom read as a manifest");
    };
    assert_eq!(errors.diagnostics.len(), 1);
    assert_eq!(errors.diagnostics[0].code.as_str(), "E001");

    // 100,000 nested brackets: the parser stops at its depth limit, and the error shows a
    // window of the line, not 200 KB of it.
    let deep = format!("name: d\nseed: 1\nstages: {}\n", "[".repeat(100_000));
    let Err(errors) = check(SourceFile::new(Path::new("deep.yaml"), deep), None) else {
        panic!("100,000 nested brackets are a valid manifest");
    };
    assert_eq!(errors.diagnostics.len(), 1, "{errors}");
    assert_eq!(errors.diagnostics[0].message, "nested too deeply");
    assert!(errors.to_string().len() < 1_000, "{errors}");
}

/// The canonical parameters of every stage of every manifest in `manifests/`, and the part
/// its shards depend on, as they enter the fingerprints: pinned in
/// `fixtures/canonical_params.expected`, so a change of how a kind checks or serialises its
/// parameters cannot move a fingerprint unnoticed (it would invalidate every cached result
/// of the studies). Regenerate with `SNNI_BLESS=1` only together with a kind version bump.
#[test]
fn canonical_params_of_every_manifest_are_pinned() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut actual = String::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let study = check(SourceFile::new(path, text), None)
            .unwrap_or_else(|errors| panic!("{} is invalid:\n{errors}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy();
        for stage in &study.stages {
            let params = serde_json::to_string(&stage.params).unwrap();
            let shard = serde_json::to_string(&stage.kind.shard_params(&stage.params)).unwrap();
            actual.push_str(&format!(
                "{file} {} ({} v{})\n  params: {params}\n  shards: {shard}\n",
                stage.name,
                stage.kind.name(),
                stage.kind.version()
            ));
        }
    }
    let expected_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/canonical_params.expected");
    if std::env::var_os("SNNI_BLESS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected != actual {
        for (line, (want, got)) in expected.lines().zip(actual.lines()).enumerate() {
            if want != got {
                panic!(
                    "canonical parameters moved at line {} of {}:\n  expected {want}\n  got      {got}",
                    line + 1,
                    expected_path.display()
                );
            }
        }
        panic!(
            "canonical parameters moved: {} lines expected, {} found",
            expected.lines().count(),
            actual.lines().count()
        );
    }
}
