//! ARCHITECTURE.md stays true: every path it names (in backticks, containing a `/`)
//! exists in the repository.

mod common;

use common::repo_root;

#[test]
fn every_path_architecture_md_names_exists() {
    let text = std::fs::read_to_string(repo_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository's root");
    let paths: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.contains('/') && !span.contains(' '))
        .collect();
    assert!(
        paths.len() >= 30,
        "ARCHITECTURE.md names only {} paths; the check reads `path/like/this` spans",
        paths.len()
    );
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|path| !repo_root().join(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}
