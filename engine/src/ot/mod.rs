//! Oblivious transfer: the OT layer under the non-linear protocols (ReLU, pooling).
//!
//! - [`base`]: Chou–Orlandi base OT over Ristretto (128 per direction, once per session).
//! - [`iknp`]: IKNP OT extension with a fixed-key-AES correlation-robust hash — chosen-message,
//!   random and correlated OT, batched; the default [`OtSender`]/[`OtReceiver`] backend.
//! - [`one_of_n`]: 1-of-N OT for N ≤ 16 (the millionaires' protocol uses N = 16) built from
//!   log N random 1-of-2 OTs.
//! - [`triples`]: bit (AND) triples from two random OTs per group of triples sharing a
//!   factor, and AND gates on XOR shares.
//! - [`millionaire`]: XOR shares of `x < y` by 4-bit digits, 1-of-16 OT and a log-depth
//!   AND tree.
//! - [`relu`]: DReLU, multiplexer and ReLU on additive shares in Z_{2^ℓ}.
//!
//! Protocols above this layer talk to [`OtSender`] and [`OtReceiver`] only, so a silent-OT
//! backend can replace IKNP later. Every call is batched: one call moves millions of OTs in a
//! few messages. Semi-honest security. Whenever both parties have data to send, one sends
//! and the other receives first, so two processes on one TCP stream never both block on
//! writes. Throughput figures: `cargo bench -p snni-engine --bench blocks -- ot ferret`.

mod backend;
pub mod base;
pub mod ferret;
pub mod iknp;
pub mod millionaire;
pub mod one_of_n;
pub mod relu;
pub mod triples;

mod aes_prims;
pub(crate) mod bits;
mod error;
mod transpose;

#[cfg(test)]
mod test_util;

pub use backend::{OtBackend, OtPair};
pub use error::OtError;
pub use ferret::{FerretPair, FerretReceiver, FerretSender};
pub use iknp::{IknpPair, IknpReceiver, IknpSender};
pub use millionaire::millionaire;
pub use one_of_n::{recv_one_of_n, send_one_of_n, send_one_of_n_packed, send_one_of_n_with};
pub use relu::{drelu, mux, relu};
pub use triples::{and_gates, bit_triples, BitTriples};

use crate::channel::Channel;

/// A 128-bit OT message or key.
pub type Block = u128;

/// Which side of the two-party protocol this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The party holding the network.
    Server,
    /// The party holding the input.
    Client,
}

impl Role {
    /// Sends `mine` and receives the peer's message of the same step, in an order that
    /// never has both parties blocked writing: the server sends first, the client receives
    /// first.
    pub fn exchange(self, ch: &mut dyn Channel, mine: &[u8]) -> Result<Vec<u8>, OtError> {
        match self {
            Role::Server => {
                ch.send(mine)?;
                Ok(ch.recv()?)
            }
            Role::Client => {
                let theirs = ch.recv()?;
                ch.send(mine)?;
                ch.flush()?;
                Ok(theirs)
            }
        }
    }
}

/// The sending side of a batched 1-of-2 OT backend.
pub trait OtSender {
    /// Chosen-message OT: the receiver learns `messages[i][c_i]` and nothing about the other.
    fn send_chosen(&mut self, ch: &mut dyn Channel, messages: &[[Block; 2]])
        -> Result<(), OtError>;

    /// Random OT: returns `n` random pairs; the receiver learns the one it chose of each.
    fn send_random(&mut self, ch: &mut dyn Channel, n: usize) -> Result<Vec<[Block; 2]>, OtError>;

    /// Random OT with random choices: returns `n` random pairs; the receiver learns one of
    /// each under a choice bit it does not pick ([`OtReceiver::recv_random_choice`]). A
    /// silent backend serves it without any traffic (no derandomisation bit).
    fn send_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<Vec<[Block; 2]>, OtError>;

    /// Correlated OT over Z_{2^bits} (`1 ≤ bits ≤ 64`): returns random `x_i`; the receiver
    /// learns `x_i + c_i·deltas[i] mod 2^bits`. Costs `bits` bits of traffic per OT beyond
    /// the extension itself.
    fn send_correlated(
        &mut self,
        ch: &mut dyn Channel,
        deltas: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, OtError>;
}

/// The receiving side of a batched 1-of-2 OT backend.
pub trait OtReceiver {
    /// Chosen-message OT: returns `messages[i][choices[i]]`.
    fn recv_chosen(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError>;

    /// Random OT: returns the sender's random value `r_i[choices[i]]`.
    fn recv_random(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError>;

    /// Random OT with random choices: returns the uniformly random choice bits and the
    /// sender's value `r_i[choice_i]` for each.
    fn recv_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<Block>), OtError>;

    /// Correlated OT over Z_{2^bits}: returns `x_i + choices[i]·delta_i mod 2^bits`.
    fn recv_correlated(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
        bits: u32,
    ) -> Result<Vec<u64>, OtError>;
}

impl<T: OtSender + ?Sized> OtSender for &mut T {
    fn send_chosen(
        &mut self,
        ch: &mut dyn Channel,
        messages: &[[Block; 2]],
    ) -> Result<(), OtError> {
        (**self).send_chosen(ch, messages)
    }
    fn send_random(&mut self, ch: &mut dyn Channel, n: usize) -> Result<Vec<[Block; 2]>, OtError> {
        (**self).send_random(ch, n)
    }
    fn send_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<Vec<[Block; 2]>, OtError> {
        (**self).send_random_choice(ch, n)
    }
    fn send_correlated(
        &mut self,
        ch: &mut dyn Channel,
        deltas: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        (**self).send_correlated(ch, deltas, bits)
    }
}

impl<T: OtReceiver + ?Sized> OtReceiver for &mut T {
    fn recv_chosen(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        (**self).recv_chosen(ch, choices)
    }
    fn recv_random(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        (**self).recv_random(ch, choices)
    }
    fn recv_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        (**self).recv_random_choice(ch, n)
    }
    fn recv_correlated(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        (**self).recv_correlated(ch, choices, bits)
    }
}
