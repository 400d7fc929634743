//! Non-linear layers on additive shares in Z_{2^ℓ}, over the OT layer in [`crate::ot`].
//!
//! - [`fixed`]: fixed-point encoding, signed reading, ring arithmetic.
//! - [`reference`](mod@reference): the plaintext fixed-point semantics every secure layer
//!   is tested against.
//! - [`window`]: pooling geometry ([`Pool2d`]) shared by protocol, reference and plan.
//! - [`truncate`](mod@truncate): truncation by `s` bits, ≤ 1 ulp (Cheetah, known MSB).
//! - [`maxpool`]: MaxPool as a batched tree of `b + ReLU(a − b)`; exact.
//! - [`avgpool`]: AvgPool / global AvgPool by local sums, a public multiplier and one
//!   truncation; ≤ 1 ulp.
//! - [`beaver`]: arithmetic triples from correlated OT (Gilboa) and Beaver multiplication.
//! - [`poly`]: SAFENet channel-wise polynomial activation.
//! - [`cost`]: [`Cost`], planned bytes, OTs and rounds, composable in sequence.
//! - [`plan`]: the planned [`Cost`] of each layer, equal to the metered traffic, for either
//!   OT backend ([`plan::OtPlanner`] follows Ferret's pools from call to call).
//!
//! Every function takes this party's [`crate::ot::Role`], the OT sender and receiver paired
//! with the peer's, the channel and this party's shares, and returns this party's shares.
//! Inputs are signed values in `[−2^{ℓ−2}, 2^{ℓ−2})`. Traffic is read from the channel's
//! meter by the caller.

pub mod avgpool;
pub mod beaver;
pub mod cost;
pub mod fixed;
pub mod maxpool;
mod ot_plan;
pub mod plan;
pub mod poly;
pub mod reference;
pub mod truncate;
pub mod window;

#[cfg(test)]
mod tests;

pub use avgpool::{avg_pool, global_avg_pool};
pub use beaver::{beaver_mul, beaver_triples, ArithTriples};
pub use cost::{Cost, Dir, Flow};
pub use maxpool::max_pool;
pub use poly::{poly_act, PolyParams};
pub use truncate::{truncate, RangeCheck};
pub use window::Pool2d;
