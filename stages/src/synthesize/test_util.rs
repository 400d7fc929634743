//! Test helpers shared by the synthesis tests.

use snni_engine::network::Shape;

use super::SynthesisParams;

/// The default parameters on a 32×32×3 input, small enough for many quick networks.
pub(super) fn small() -> SynthesisParams {
    SynthesisParams {
        input: Shape::new(32, 32, 3),
        ..SynthesisParams::default()
    }
}
