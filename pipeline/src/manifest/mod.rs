//! Manifests: parse (`RawManifest`), validate (`Study`), with positioned diagnostics.

mod dag;
mod decode;
mod diagnostic;
mod executor;
pub mod network_file;
mod raw;
mod source;
mod study;
pub(crate) mod units;
mod validate;

use std::path::Path;

pub use diagnostic::{
    closest, cut, Code, Diagnostic, ManifestErrors, MESSAGE_WIDTH, SNIPPET_WIDTH,
};
pub use executor::{ExecutorConfig, SbatchOptions, ShapedOptions, SlurmConfig};
pub use source::{read_text, Problem, ReadError, SourceFile, Span, MAX_BYTES};
pub use study::{Setting, StageDecl, Study};
pub use validate::{check, DEFAULT_STORE};

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("read manifest {}: {source}", path.display())]
    Io {
        /// The manifest path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest has errors.
    #[error("{0}")]
    Invalid(Box<ManifestErrors>),
}

/// Reads and checks the manifest at `path`.
pub fn load(path: &Path, store_override: Option<&Path>) -> Result<Study, LoadError> {
    let source = read_source(path, path)?;
    check(source, store_override).map_err(LoadError::Invalid)
}

/// Reads the manifest at `path` (named `shown` in diagnostics) as text: a file that is not
/// text or is larger than [`source::MAX_BYTES`] is an E001 diagnostic, read no further.
pub fn read_source(path: &Path, shown: &Path) -> Result<SourceFile, LoadError> {
    let not_text = |source: SourceFile, span, message: String| {
        let diagnostic = Diagnostic::new(Code::Syntax, span, message)
            .help("a manifest is a short YAML text file; check the path");
        LoadError::Invalid(Box::new(ManifestErrors {
            source,
            diagnostics: vec![diagnostic],
        }))
    };
    match source::read_text(path) {
        Ok(text) => Ok(SourceFile::new(shown, text)),
        Err(source::ReadError::Io(source)) => Err(LoadError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Err(source::ReadError::TooLarge) => Err(not_text(
            SourceFile::unindexed(shown, String::new()),
            Span::START,
            format!("the file is larger than {} KiB", source::MAX_BYTES / 1024),
        )),
        Err(source::ReadError::NotText { span, what, text }) => Err(not_text(
            SourceFile::unindexed(shown, text),
            span,
            format!("not a text file: {what}"),
        )),
    }
}
