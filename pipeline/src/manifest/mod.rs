//! Manifests: parse (`RawManifest`), validate (`Study`), with positioned diagnostics.

mod dag;
mod decode;
mod diagnostic;
mod executor;
mod raw;
mod source;
mod study;
pub(crate) mod units;
mod validate;

use std::path::Path;

pub use diagnostic::{closest, Code, Diagnostic, ManifestErrors};
pub use executor::{ExecutorConfig, SbatchOptions, ShapedOptions, SlurmConfig};
pub use source::{SourceFile, Span};
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
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check(SourceFile::new(path, text), store_override).map_err(LoadError::Invalid)
}
