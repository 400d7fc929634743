//! The two-party secure neural-network inference engine of snni-lab.
//!
//! - [`network`]: the network description (layer graph, shape inference, validation,
//!   YAML/JSON form) that the engine runs and the predictors read.
//! - [`zoo`]: the reference architectures (SqueezeNet 1.1, ResNet-50, DenseNet-121).
//! - [`ot`]: oblivious transfer (base OT, IKNP extension, 1-of-16 OT, bit triples).
//! - [`he`]: Cheetah-style BFV linear layers (coefficient packing, no rotations).
//!
//! This crate depends on no other crate of the workspace, so the protocol can be tested alone.

pub mod channel;
mod error;
pub mod he;
pub mod network;
pub mod nonlinear;
pub mod ot;
pub mod runtime;
pub mod zoo;

pub use error::NetworkError;

/// The engine's version, recorded with every profiled run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
