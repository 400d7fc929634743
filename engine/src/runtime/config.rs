//! What a party needs to run: the engine settings and where weights and inputs come from.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::he::{HeParams, HeParamsDesc};
use crate::ot::ferret::FerretParams;
use crate::ot::{OtBackend, Role};

use super::error::{Result, RuntimeError};

/// Settings both parties must agree on (ℓ, scale, HE parameters, OT backend) plus local
/// ones.
///
/// There is no way to seed the protocol's randomness from outside this crate's own tests:
///
/// ```compile_fail
/// let config = snni_engine::runtime::EngineConfig {
///     protocol_seed: Some(7),
///     ..Default::default()
/// };
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Share bit length ℓ: shares live in Z_{2^ℓ} (default 41).
    pub ell: u32,
    /// Fixed-point scale s: a real v is `round(v·2^s)` (default 12).
    pub scale: u32,
    /// Worker threads per party for the HE linear layers: the client's encryptions and
    /// decryptions and the server's answers are split over this many scoped threads (1, the
    /// default, runs everything on the party's own thread; 0 counts as 1). The rest of the
    /// protocol runs on one thread. Recorded in the run record so that measurements say
    /// what they were taken with. The outputs do not depend on it.
    pub threads: usize,
    /// How long to wait for the peer (accept/connect, each frame) before failing (default
    /// 300 s). A frame can wait on the peer's computation of a whole layer (the server's HE
    /// evaluation of a large convolution), so keep it above the slowest layer.
    pub timeout: Duration,
    /// Explicit HE parameters (tests, experiments); `None` uses
    /// [`HeParamsDesc::for_bitlen`]`(ell)`.
    pub he: Option<HeParamsDesc>,
    /// Seed of the protocol randomness (keys, masks, OT); `None` draws it from the OS. It
    /// reveals every secret of the session to whoever knows it, so it exists only in this
    /// crate's tests (reproducible runs), never in a build anyone deploys.
    #[cfg(test)]
    pub(crate) protocol_seed: Option<u64>,
    /// Ferret parameters other than the paper's (tiny, insecure ones exercise refills in
    /// tests); only in this crate's tests.
    #[cfg(test)]
    pub(crate) ferret: Option<FerretParams>,
    /// Largest frame accepted from the peer (default 256 MiB).
    pub max_frame_len: usize,
    /// The OT extension (default Ferret); both parties must run the same.
    pub ot: OtBackend,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            ell: 41,
            scale: 12,
            threads: 1,
            timeout: Duration::from_secs(300),
            he: None,
            #[cfg(test)]
            protocol_seed: None,
            #[cfg(test)]
            ferret: None,
            max_frame_len: crate::channel::DEFAULT_MAX_FRAME_LEN,
            ot: OtBackend::default(),
        }
    }
}

impl EngineConfig {
    /// Checks ℓ and the scale: shares need `2 ≤ ℓ ≤ 60` (the HE bound) and products at scale
    /// 2s must leave headroom, so `1 ≤ s` and `2s + 8 ≤ ℓ`.
    pub fn check(&self) -> Result<()> {
        if !(2..=60).contains(&self.ell) {
            return Err(RuntimeError::Config(format!(
                "bit length ℓ = {} is outside 2..=60",
                self.ell
            )));
        }
        if self.scale == 0 || 2 * self.scale + 8 > self.ell {
            return Err(RuntimeError::Config(format!(
                "scale {} does not fit ℓ = {}: products at scale 2s need 2s + 8 ≤ ℓ",
                self.scale, self.ell
            )));
        }
        if let Some(he) = &self.he {
            if he.plaintext_bits != self.ell {
                return Err(RuntimeError::Config(format!(
                    "HE parameters are for ℓ = {}, the engine runs ℓ = {}",
                    he.plaintext_bits, self.ell
                )));
            }
        }
        Ok(())
    }

    /// The Ferret parameters: the paper's, except in tests that ask for others.
    pub(crate) fn ferret_params(&self) -> FerretParams {
        #[cfg(test)]
        if let Some(params) = self.ferret {
            return params;
        }
        FerretParams::DEFAULT
    }

    /// The seed of the protocol randomness, if a test fixed one.
    pub(crate) fn protocol_seed(&self) -> Option<u64> {
        #[cfg(test)]
        return self.protocol_seed;
        #[cfg(not(test))]
        None
    }

    /// The HE parameter description this configuration uses.
    pub fn he_desc(&self) -> Result<HeParamsDesc> {
        match &self.he {
            Some(desc) => Ok(desc.clone()),
            None => HeParamsDesc::for_bitlen(self.ell).map_err(RuntimeError::HeParams),
        }
    }

    /// Builds the HE parameters.
    pub fn he_params(&self) -> Result<HeParams> {
        HeParams::new(self.he_desc()?).map_err(RuntimeError::HeParams)
    }
}

/// Where the server's weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightSource {
    /// Random weights of realistic magnitude from this seed ([`super::Weights::random`]).
    Seed(u64),
    /// A weight file ([`super::Weights::read_file`] documents the format).
    File(PathBuf),
}

/// Where the client's input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A random input in [−1, 1) from this seed ([`super::Input::random`]).
    Seed(u64),
    /// An input file ([`super::Input::read_file`] documents the format).
    File(PathBuf),
}

/// Which party a record or report belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// Holds the network.
    Server,
    /// Holds the input.
    Client,
}

impl Party {
    /// The OT role of this party.
    pub fn role(self) -> Role {
        match self {
            Party::Server => Role::Server,
            Party::Client => Role::Client,
        }
    }

    /// `server` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Server => "server",
            Party::Client => "client",
        }
    }
}
