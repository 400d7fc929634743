//! The outside tools some tests need: a Python with the packages of
//! `tests/python/requirements.txt`, Chromium and pdflatex. `.ci/run` installs them. A
//! missing tool fails the test with what to do, unless `SNNI_SKIP_TOOLS` names it (a comma
//! list of `python`, `chromium`, `pdflatex`, or `all`): then the test says loudly that it
//! skipped and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that skips tests needing a tool, on purpose.
pub const SKIP_VAR: &str = "SNNI_SKIP_TOOLS";

/// Whether `tool` is to be skipped; says so on stderr when it is.
fn skipped(tool: &str, test: &str) -> bool {
    let list = std::env::var(SKIP_VAR).unwrap_or_default();
    let skip = list
        .split(',')
        .map(str::trim)
        .any(|t| t == tool || t == "all");
    if skip {
        eprintln!(
            "\n!!!!!!!! SKIPPED {test}: {SKIP_VAR}={list} says not to use {tool}; \
             this test checked NOTHING !!!!!!!!\n"
        );
    }
    skip
}

/// A Python interpreter with onnx, numpy and pyarrow: `SNNI_PYTHON`, else the virtual
/// environment `.ci/run` makes. `None` when skipped on purpose.
pub fn python(test: &str) -> Option<PathBuf> {
    if skipped("python", test) {
        return None;
    }
    let default = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/snni-lab/venv/bin/python"));
    let python = match std::env::var_os("SNNI_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => match default.filter(|p| p.exists()) {
            Some(path) => path,
            None => panic!(
                "{test} needs Python with the packages of tests/python/requirements.txt, and \
                 SNNI_PYTHON is not set (nor is there ~/.cache/snni-lab/venv). `bash .ci/run` \
                 makes that environment; by hand: python3 -m venv ~/.cache/snni-lab/venv && \
                 ~/.cache/snni-lab/venv/bin/pip install -r tests/python/requirements.txt. \
                 To skip on purpose: {SKIP_VAR}=python"
            ),
        },
    };
    let check = Command::new(&python)
        .args(["-c", "import onnx, numpy, pyarrow"])
        .output()
        .unwrap_or_else(|e| panic!("{test}: cannot run {} ({e}); set SNNI_PYTHON to a Python 3 with the packages of tests/python/requirements.txt, or {SKIP_VAR}=python to skip", python.display()));
    assert!(
        check.status.success(),
        "{test}: {} lacks a package of tests/python/requirements.txt:\n{}\ninstall them: {} -m pip install -r tests/python/requirements.txt",
        python.display(),
        String::from_utf8_lossy(&check.stderr),
        python.display()
    );
    Some(python)
}

/// A program found on PATH (or at the path in `env`), else a failure saying how to get it.
fn program(tool: &str, env: &str, package: &str, test: &str) -> Option<PathBuf> {
    if skipped(tool, test) {
        return None;
    }
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    Some(found.unwrap_or_else(|| {
        panic!(
            "{test} needs {tool}, which is not on PATH: install Debian's {package} \
             (`bash .ci/run` does), or set {env} to it; to skip on purpose: {SKIP_VAR}={tool}"
        )
    }))
}

/// Chromium (`SNNI_CHROMIUM`, else `chromium` on PATH).
pub fn chromium(test: &str) -> Option<PathBuf> {
    program("chromium", "SNNI_CHROMIUM", "chromium", test)
}

/// pdflatex (`SNNI_PDFLATEX`, else on PATH).
pub fn pdflatex(test: &str) -> Option<PathBuf> {
    program(
        "pdflatex",
        "SNNI_PDFLATEX",
        "texlive-latex-base and texlive-latex-recommended",
        test,
    )
}

/// Runs `python script args…` from `tests/python/`, returning stdout; fails with stderr.
pub fn run_python(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let script = super::repo_root().join("tests/python").join(script);
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
