//! ONNX import: an `.onnx` model → our [`Network`](snni_engine::network::Network) and its
//! weights in the engine's weight-file format.
//!
//! Why here: stage kinds that produce networks live in this crate, and the engine stays
//! free of protobuf (STYLE.md: pipeline → stages → engine). The protobuf types are prost's,
//! generated once from ONNX's schema and committed (`proto/generate.sh` says how and why),
//! so nothing extra is needed to build.
//!
//! - `proto/`: the generated `ModelProto` and friends;
//! - `tensor.rs`: initializers and constants decoded (raw, typed or external data);
//! - `attrs.rs`, `geometry.rs`: node attributes, and windows reduced to stride + padding;
//! - `convert.rs`: the driver (input, output selection, layouts, names);
//! - `ops.rs`: the supported ops ([`SUPPORTED_OPS`]) and their mapping;
//! - `weights.rs`: [`ImportedWeights`] and the weight file;
//! - `error.rs`: [`ImportError`], naming the node and what to do.

mod attrs;
mod convert;
mod error;
mod geometry;
mod ops;
mod proto;
mod tensor;
mod weights;

#[cfg(test)]
mod tests;

use std::path::Path;

use prost::Message;

pub use convert::{ImportOptions, Imported};
pub use error::ImportError;
pub use ops::SUPPORTED_OPS;
pub use weights::{ImportedWeights, LayerValues};

/// Whether `path` names an ONNX model (by its extension).
pub fn is_onnx_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Imports the model in the file `path`.
pub fn import_file(path: &Path, options: &ImportOptions) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let model =
        proto::ModelProto::decode(bytes.as_slice()).map_err(|source| ImportError::Decode {
            path: path.display().to_string(),
            source,
        })?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    convert::import_model(&model, path.parent(), stem, options)
}

/// Imports a model from its bytes (external tensor data cannot be read this way).
pub fn import_bytes(bytes: &[u8], options: &ImportOptions) -> Result<Imported, ImportError> {
    let model = proto::ModelProto::decode(bytes).map_err(|source| ImportError::Decode {
        path: "(bytes)".into(),
        source,
    })?;
    convert::import_model(&model, None, None, options)
}
