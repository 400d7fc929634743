//! The session start: both parties send a [`Hello`] and check the peer's before anything else.
//!
//! A hello is `snni-hello\0` followed by JSON: protocol version, network name and digest,
//! ℓ, scale, the HE parameters and a random nonce. Each side sends first and then reads, so
//! the exchange costs one round; any difference is an error naming both sides' values.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::he::HeParamsDesc;
use crate::ot::OtBackend;

use super::config::Party;
use super::error::{Result, RuntimeError, StepError};

/// Version of the runtime's wire protocol; peers must run the same one. 2: the OT backend is
/// announced and Ferret exists. 3: convolution packings charge the upload (engine 0.5.0), so
/// two engines that plan a convolution differently refuse each other at the hello instead of
/// failing on the first frame of another size. 4: batch norm's channels at Salem–Spencer
/// blocks (engine 0.6.0). 5: batch norm's split layout (engine 0.8.0). 6: per-layer
/// flooding and wire rounding, the compact upload and answer forms with a CRC-32 (engine
/// 0.9.0). 7: Ferret's single-point COTs from half-trees, `h − 1` blocks per tree (engine
/// 0.10.0).
pub const PROTOCOL_VERSION: u32 = 7;

const MAGIC: &[u8] = b"snni-hello\0";

/// The largest hello accepted from a peer: until the handshake succeeds the peer is unknown,
/// and a frame of more than a few KiB is refused on its header.
pub const MAX_HELLO_LEN: usize = 4 << 10;

/// What a party announces at session start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Which party sends it.
    pub party: Party,
    /// Network name (for messages).
    pub network: String,
    /// Network digest.
    pub digest: String,
    /// Share bit length.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// HE parameters.
    pub he: HeParamsDesc,
    /// The OT extension.
    pub ot: OtBackend,
    /// Random value; the two nonces make the OT session id.
    pub nonce: u64,
}

impl Hello {
    /// A hello with a fresh nonce.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        party: Party,
        network: &str,
        digest: &str,
        ell: u32,
        scale: u32,
        he: HeParamsDesc,
        ot: OtBackend,
        rng: &mut impl RngCore,
    ) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            party,
            network: network.to_owned(),
            digest: digest.to_owned(),
            ell,
            scale,
            he,
            ot,
            nonce: rng.next_u64(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        serde_json::to_writer(&mut out, self).expect("a hello serializes");
        out
    }

    fn decode(msg: &[u8]) -> Result<Self, StepError> {
        let body = msg
            .strip_prefix(MAGIC)
            .ok_or_else(|| StepError::Malformed {
                what: "hello",
                detail: "the peer is not an snni engine (no hello prefix)".into(),
            })?;
        serde_json::from_slice(body).map_err(|err| StepError::Malformed {
            what: "hello",
            detail: err.to_string(),
        })
    }

    /// Describes the first difference between `self` (this party) and `peer`, if any.
    fn mismatch(&self, peer: &Hello) -> Option<String> {
        let (server, client) = match self.party {
            Party::Server => (self, peer),
            Party::Client => (peer, self),
        };
        let short = |d: &str| d.chars().take(12).collect::<String>();
        if self.party == peer.party {
            return Some(format!(
                "both parties run as {}; start one server and one client",
                self.party.as_str()
            ));
        }
        if server.version != client.version {
            return Some(format!(
                "protocol version mismatch: server speaks {}, client {}",
                server.version, client.version
            ));
        }
        if server.digest != client.digest {
            return Some(format!(
                "network digest mismatch: server runs {}… ({}), client {}… ({})",
                short(&server.digest),
                server.network,
                short(&client.digest),
                client.network
            ));
        }
        if (server.ell, server.scale) != (client.ell, client.scale) {
            return Some(format!(
                "fixed-point mismatch: server uses ℓ = {}, scale {}; client ℓ = {}, scale {}",
                server.ell, server.scale, client.ell, client.scale
            ));
        }
        if server.ot != client.ot {
            return Some(format!(
                "OT backend mismatch: server runs {}, client {}; give both the same --ot",
                server.ot, client.ot
            ));
        }
        // The float fields are derived and need not survive JSON exactly; compare the choice.
        let key = |h: &HeParamsDesc| {
            (
                h.degree,
                h.moduli.clone(),
                h.final_moduli,
                h.plaintext_bits,
                h.weight_l1_bits,
                h.flood_bits,
            )
        };
        if key(&server.he) != key(&client.he) {
            return Some(format!(
                "HE parameter mismatch: server uses N = {} with moduli {:?}, flooding {} bits; \
                 client N = {} with moduli {:?}, flooding {} bits",
                server.he.degree,
                server.he.moduli,
                server.he.flood_bits,
                client.he.degree,
                client.he.moduli,
                client.he.flood_bits
            ));
        }
        None
    }
}

/// Sends `mine`, reads the peer's hello and checks that both describe the same session.
/// Returns the peer's hello.
pub fn exchange(ch: &mut dyn Channel, mine: &Hello) -> Result<Hello> {
    let phase = |source| RuntimeError::Phase {
        phase: "handshake",
        source,
    };
    ch.send(&mine.encode())
        .map_err(|e| phase(StepError::Channel(e)))?;
    let msg = ch
        .recv_limited(MAX_HELLO_LEN)
        .map_err(|e| phase(StepError::Channel(e)))?;
    let peer = Hello::decode(&msg).map_err(phase)?;
    match mine.mismatch(&peer) {
        Some(message) => Err(RuntimeError::Mismatch(message)),
        None => Ok(peer),
    }
}
