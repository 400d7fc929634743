//! Why an ONNX model could not be imported. Messages read after "failed to …"; every error
//! about the graph names the node (its name, else its first output) and its op type, and
//! [`ImportError::help`] says what to do.

use snni_engine::network::NetworkError;
use thiserror::Error;

/// An ONNX import failure.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("read ONNX model {path}")]
    Read {
        /// The model file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ONNX `ModelProto`.
    #[error("decode ONNX model {path}: not a protobuf ModelProto")]
    Decode {
        /// The model file.
        path: String,
        /// What prost said.
        #[source]
        source: prost::DecodeError,
    },
    /// One node cannot be mapped onto our layers.
    #[error("import node '{node}' ({op}): {problem}")]
    Node {
        /// The node's name, or its first output when it has none.
        node: String,
        /// Its op type, e.g. `Conv`.
        op: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        help: String,
    },
    /// The model as a whole does not fit (inputs, outputs, missing tensors).
    #[error("import the model: {problem}")]
    Model {
        /// What is wrong.
        problem: String,
        /// What to do.
        help: String,
    },
    /// The imported network does not validate (a bug in the importer, or a model whose
    /// shapes our layers cannot express).
    #[error("check the imported network")]
    Network(#[source] NetworkError),
}

impl ImportError {
    /// What the user can do about it, when there is something to say.
    pub fn help(&self) -> Option<&str> {
        match self {
            ImportError::Node { help, .. } | ImportError::Model { help, .. } => Some(help),
            ImportError::Read { .. } => Some("give the path of an .onnx file"),
            ImportError::Decode { .. } => {
                Some("export the model with torch.onnx.export or onnx.save; this file is not one")
            }
            ImportError::Network(_) => None,
        }
    }

    pub(crate) fn model(problem: impl Into<String>, help: impl Into<String>) -> Self {
        ImportError::Model {
            problem: problem.into(),
            help: help.into(),
        }
    }
}
