//! Random network synthesis: the generator behind the `synthesize` stage.
//!
//! The study profiles many small random networks so that every layer type is seen at many
//! sizes (seed §1.1, "Data generation"). [`SynthesisParams`] holds the ranges, with defaults
//! taken from the seed (§1.2, "Experimental setup") and from the study's public generator
//! (`Cheetah_evaluator/generate_model/generate_convmp.py` in the repository of the seed's
//! footnote 1; "the public generator" below). [`SynthesisParams::validate`] reports every
//! problem at once; [`generate`] builds network `index` of a study from `(seed, index)` alone,
//! so a network never depends on how many others are generated.
//!
//! A network is `layers` blocks of one [`Family`], then an optional fully connected head:
//!
//! - conv families: `conv` → optional `batch_norm` → `relu` (or `poly_act`) → the family's
//!   pool (`max_pool` or `avg_pool`, none for `conv`);
//! - pool families: one `max_pool` or `avg_pool` on the input's channels;
//! - head: `flatten` (or `global_avg_pool` when the map is larger than `fc_max_inputs`) →
//!   `fc` → `relu` → `fc` with `classes` outputs.
//!
//! Windows never produce an empty map: a kernel is only chosen if it fits the current map with
//! its padding, and filters are capped so that a conv output stays within `max_activation`.
//!
//! [`generate`]: fn@generate

mod generate;
mod params;
mod validate;

#[cfg(test)]
mod test_util;

pub use generate::generate;
pub use params::{Family, PaddingMode, Range, SynthesisParams};
