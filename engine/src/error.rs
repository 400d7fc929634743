//! The engine's error type for network descriptions.
//!
//! [`NetworkError`] covers reading a network (YAML or JSON) and validating it (names, wiring,
//! shape inference). Every validation error names the layer by its 0-based index and its name,
//! and says what to change, so that a person editing a network file can act on it.

use crate::network::{Kernel, OpKind, Shape};

/// Why a network could not be read or does not describe a computable graph.
///
/// Messages are lowercase and read after "failed to …"; layers are named as
/// `layer {index} '{name}'` with a 0-based index into [`Network::layers`](crate::network::Network).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The YAML text is not a network description.
    #[error("parse network YAML")]
    Yaml(#[source] serde_yaml::Error),

    /// The JSON text is not a network description.
    #[error("parse network JSON")]
    Json(#[source] serde_json::Error),

    /// The network could not be written as YAML.
    #[error("write network YAML")]
    WriteYaml(#[source] serde_yaml::Error),

    /// The network could not be written as JSON.
    #[error("write network JSON")]
    WriteJson(#[source] serde_json::Error),

    /// The network has no layers.
    #[error("network '{network}' has no layers; add at least one layer")]
    Empty {
        /// The network's name.
        network: String,
    },

    /// The network input has a zero height, width or channel count.
    #[error("network input {shape} has a zero dimension; every dimension must be at least 1")]
    ZeroInput {
        /// The declared input shape.
        shape: Shape,
    },

    /// A layer has an empty name.
    #[error("layer {index}: the name is empty; give every layer a unique name")]
    EmptyName {
        /// Index of the layer.
        index: usize,
    },

    /// A layer is called `input`, the name reserved for the network input.
    #[error("layer {index}: the name 'input' is reserved for the network input; rename the layer")]
    ReservedName {
        /// Index of the layer.
        index: usize,
    },

    /// Two layers share a name.
    #[error("layer {index} '{name}': the name is already used by layer {first}")]
    DuplicateName {
        /// Index of the second layer with this name.
        index: usize,
        /// The shared name.
        name: String,
        /// Index of the first layer with this name.
        first: usize,
    },

    /// A layer reads from a name that no layer has.
    #[error("layer {index} '{name}': input '{input}' names no layer (use 'input' for the network input)")]
    UnknownInput {
        /// Index of the reading layer.
        index: usize,
        /// Name of the reading layer.
        name: String,
        /// The unknown input name.
        input: String,
    },

    /// A layer reads from a layer listed after it (layers must be in topological order).
    #[error("layer {index} '{name}': input '{input}' is layer {later}, listed after this one; list layers so that every input comes first")]
    ForwardInput {
        /// Index of the reading layer.
        index: usize,
        /// Name of the reading layer.
        name: String,
        /// The input name.
        input: String,
        /// Index of the layer named `input`.
        later: usize,
    },

    /// A layer has the wrong number of inputs for its kind.
    #[error("layer {index} '{name}': {kind} needs {expected} input(s), got {got}")]
    InputCount {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer kind, e.g. `add`.
        kind: OpKind,
        /// What the kind accepts, e.g. `exactly 2` or `at least 2`.
        expected: &'static str,
        /// How many inputs the layer has.
        got: usize,
    },

    /// A size parameter (filters, units, stride, kernel side) is zero.
    #[error("layer {index} '{name}': {kind} {field} must be at least 1")]
    ZeroParameter {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer kind.
        kind: OpKind,
        /// The zero field, e.g. `filters`.
        field: &'static str,
    },

    /// A convolution kernel side is outside 1..=11.
    #[error(
        "layer {index} '{name}': conv kernel {kernel} is out of range; each side must be 1 to 11"
    )]
    KernelRange {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The kernel.
        kernel: Kernel,
    },

    /// The kernel does not fit in the (padded) input, so the output would be empty.
    #[error(
        "layer {index} '{name}': {kind} kernel {kernel} is larger than the padded input {}x{} \
         (input {input}, padding {padding}); the input is too small for this layer: use a larger \
         network input, a smaller kernel or more padding",
        .input.h.saturating_add(.padding.saturating_mul(2)),
        .input.w.saturating_add(.padding.saturating_mul(2))
    )]
    KernelTooLarge {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer kind.
        kind: OpKind,
        /// The kernel.
        kernel: Kernel,
        /// The layer's input shape.
        input: Shape,
        /// The padding on each side.
        padding: usize,
    },

    /// A pooling layer pads more than half its kernel, so some windows would see only padding.
    #[error("layer {index} '{name}': {kind} padding {padding} is more than half the kernel {kernel}; use at most {max}")]
    PoolPadding {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer kind.
        kind: OpKind,
        /// The padding.
        padding: usize,
        /// The kernel.
        kernel: Kernel,
        /// The largest padding allowed for this kernel.
        max: usize,
    },

    /// A fully connected layer reads a spatial map instead of a flat vector.
    #[error("layer {index} '{name}': fc needs a flat 1x1xC input, got {input}; add a `flatten` or `global_avg_pool` layer before it")]
    NotFlat {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer's input shape.
        input: Shape,
    },

    /// An `add` layer's two inputs differ in shape.
    #[error("layer {index} '{name}': add needs equal shapes, got {left} and {right}")]
    AddShapes {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// Shape of the first input.
        left: Shape,
        /// Shape of the second input.
        right: Shape,
    },

    /// A `concat` layer's inputs differ in height or width.
    #[error(
        "layer {index} '{name}': concat needs equal height and width, got {first} and {other}"
    )]
    ConcatShapes {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// Shape of the first input.
        first: Shape,
        /// Shape of the first input that does not match.
        other: Shape,
    },

    /// A size or count of a layer is beyond what the engine can plan (see
    /// [`MAX_SIDE`](crate::network::MAX_SIDE), [`MAX_ELEMENTS`](crate::network::MAX_ELEMENTS)
    /// and [`MAX_COUNT`](crate::network::MAX_COUNT)).
    #[error(
        "layer {index} '{name}': {kind} {quantity} is {}, more than the limit of {limit}; \
         networks this large cannot be planned or run: use a smaller input or layer",
        crate::network::limits::Value(*.value)
    )]
    TooLarge {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The layer kind.
        kind: OpKind,
        /// What is too large, e.g. `output elements` or `padding`.
        quantity: &'static str,
        /// Its value, `None` when it does not even fit in 64 bits.
        value: Option<u64>,
        /// The largest value allowed.
        limit: u64,
    },

    /// The network input is beyond what the engine can plan.
    #[error(
        "network input {shape}: its {quantity} is {}, more than the limit of {limit}; use a smaller input",
        crate::network::limits::Value(*.value)
    )]
    InputTooLarge {
        /// The declared input shape.
        shape: Shape,
        /// What is too large (`height`, `width`, `elements`).
        quantity: &'static str,
        /// Its value, `None` when it does not even fit in 64 bits.
        value: Option<u64>,
        /// The largest value allowed.
        limit: u64,
    },

    /// The whole network's parameter or operation count is beyond what the engine can plan.
    #[error(
        "network '{network}': its {quantity} add up to more than the limit of {limit}; use a smaller network"
    )]
    NetworkTooLarge {
        /// The network's name.
        network: String,
        /// What is too large (`parameters`, `multiply-accumulates`).
        quantity: &'static str,
        /// The largest total allowed.
        limit: u64,
    },

    /// A `poly_act` degree other than 2 or 3.
    #[error("layer {index} '{name}': poly_act degree must be 2 or 3, got {degree}")]
    PolyDegree {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The degree given.
        degree: u8,
    },

    /// A `poly_act` ReLU fraction outside [0, 1].
    #[error("layer {index} '{name}': poly_act relu_fraction must be between 0 and 1, got {value}")]
    ReluFraction {
        /// Index of the layer.
        index: usize,
        /// Name of the layer.
        name: String,
        /// The fraction given.
        value: f64,
    },
}
