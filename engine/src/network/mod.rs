//! The network description that the engine runs and the predictors read.
//!
//! A [`Network`] is an input [`Shape`] and a list of named [`Layer`]s, each an [`Op`] with the
//! names of the layers it reads. [`Network::validate`] checks the wiring and infers every
//! layer's shapes and costs ([`Shapes`], [`LayerInfo`]); errors are
//! [`NetworkError`]s that name the layer.
//!
//! ```yaml
//! name: small
//! input: {h: 32, w: 32, c: 3}
//! layers:
//!   - {name: conv1, kind: conv, filters: 16, kernel: 3, padding: 1}
//!   - {name: relu1, kind: relu}
//!   - {name: pool1, kind: max_pool, kernel: 2, stride: 2}
//!   - {name: flat, kind: flatten}
//!   - {name: fc, kind: fc, units: 10}
//! ```

mod builder;
mod costs;
mod infer;
mod kernel;
mod layer;
pub(crate) mod limits;
#[allow(clippy::module_inception)]
// `network::Network` lives in `network/network.rs`, one type per file.
mod network;
mod op;
mod shape;
mod shapes;
mod validate;

pub use crate::error::NetworkError;
pub use builder::NetworkBuilder;
pub use costs::{poly_relu_channels, LayerCosts};
pub use infer::window_output;
pub use kernel::Kernel;
pub use layer::{Layer, INPUT};
pub use limits::{MAX_COUNT, MAX_ELEMENTS, MAX_SIDE};
pub use network::Network;
pub use op::{Op, OpKind};
pub use shape::Shape;
pub use shapes::{InputRef, LayerInfo, Shapes};
