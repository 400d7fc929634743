//! Cheetah-style linear layers over BFV with coefficient packing and no rotations.
//!
//! - [`HeParamsDesc`] / [`HeParams`]: degree, moduli, plaintext modulus 2^ℓ and the noise
//!   budget that sizes the flooding (`params.rs`);
//! - [`LinearLayer`]: CONV, FC and BN shapes and layouts (`layer.rs`);
//! - [`LinearPlan`]: the packing of a layer and its protocol counts, without any
//!   cryptography (`plan.rs`);
//! - `packing.rs`: tensors to coefficient vectors and back;
//! - [`HeClient`] / [`HeServer`]: the two parties over serialized ciphertexts
//!   (`client.rs`, `server.rs`);
//! - `parallel.rs`: a layer's independent ciphertexts split over scoped threads
//!   ([`HeClient::with_threads`], [`HeServer::with_threads`]);
//! - [`reference`](mod@reference): the plaintext integer reference the protocol must match exactly;
//! - `compact.rs`: the wire forms of uploads and answers, with the low-order bits each
//!   layer's noise budget lets them drop ([`WireBits`]), a CRC-32 and range checks;
//! - `wire.rs`: the checks the public key passes first (structure, degree,
//!   representation, every residue below its modulus).
//!
//! The protocol of one linear layer, between [`HeClient`] and [`HeServer`] (state over
//! serialized ciphertexts; the transport is the caller's).
//!
//! Setup: the client sends its public key once ([`HeClient::public_key`], an encryption of
//! zero under its secret key, like the crate's own public keys). Per layer:
//! 1. client: [`HeClient::encrypt_input`] packs its share x_c and encrypts it under its
//!    secret key (seeded symmetric ciphertexts, half the size: the seed and c0, with the
//!    layer's [`WireBits::upload_drop`] low bits rounded away);
//! 2. server: [`HeServer::evaluate`] adds its share x_s as a plaintext, multiplies by the
//!    centred weight polynomials (built one at a time), sums the channel groups, then for
//!    each answer subtracts Δ·r for a uniform r on every coefficient, re-randomizes with
//!    Enc_pk(0), floods c0 with uniform noise in `[-2^f, 2^f)` (`f` the layer's
//!    [`WireBits::flood_bits`]), switches down to the last level and sends c1 whole but c0
//!    only at the output coefficients (as Cheetah does; the client cannot decrypt the rest),
//!    both rounded by the layer's drops; its share of y is r at the output coefficients;
//! 3. client: [`HeClient::decrypt_output`] decrypts y − r at the output coefficients.
//!
//! Streamed (what the runtime does): [`HeServer::evaluate_streaming`] hands out each answer
//! as soon as it is computed, in [`answer_order`] (derived from the plan, so both parties
//! know it), and the client decrypts each with [`HeClient::decrypt_answer`] while the server
//! computes the next, then assembles its share with [`output_share`].
//!
//! The shares add to the exact layer output mod 2^ℓ: client + server = y.

mod client;
mod compact;
mod error;
mod layer;
mod packing;
mod parallel;
mod params;
mod plan;
pub mod reference;
mod server;
#[cfg(test)]
mod tests;
mod wire;

pub use client::{output_share, HeClient};
pub use error::HeError;
pub use layer::{BnShape, ConvShape, FcShape, LinearLayer, Padding};
pub use packing::{
    answer_order, answer_positions, centre, effective_weights, output_slots, pack_input,
    pack_weight, weight_count, weight_uses, OutputSlot,
};
pub use params::{
    HeParams, HeParamsDesc, WireBits, DEFAULT_WEIGHT_L1_BITS, FLOOD_MARGIN_BITS, SECRET_L1_MAX,
};
pub use plan::{LinearPlan, Packing};
pub use server::{HeServer, ServerOutput};
