//! [`OtBackend`], the choice of OT extension, and [`OtPair`], a session's OT sender and
//! receiver of either kind behind the [`OtSender`]/[`OtReceiver`] traits.

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use super::ferret::FerretParams;
use super::{FerretPair, IknpPair, OtError, OtReceiver, OtSender, Role};
use crate::channel::Channel;

/// Which OT extension a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtBackend {
    /// IKNP: 128 bits of traffic per OT (16 bytes of columns).
    Iknp,
    /// Ferret silent OT: well under one bit per COT, plus one bit per chosen choice.
    #[default]
    Ferret,
}

impl OtBackend {
    /// Every backend, default first.
    pub const ALL: [OtBackend; 2] = [OtBackend::Ferret, OtBackend::Iknp];

    /// `iknp` or `ferret`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtBackend::Iknp => "iknp",
            OtBackend::Ferret => "ferret",
        }
    }
}

impl fmt::Display for OtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OtBackend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "iknp" => Ok(OtBackend::Iknp),
            "ferret" => Ok(OtBackend::Ferret),
            other => Err(format!(
                "unknown OT backend `{other}` (expected `ferret` or `iknp`)"
            )),
        }
    }
}

/// A session's OT sender and receiver, one per direction, of the chosen backend.
#[derive(Debug)]
pub enum OtPair {
    /// IKNP in both directions.
    Iknp(Box<IknpPair>),
    /// Ferret in both directions.
    Ferret(Box<FerretPair>),
}

impl OtPair {
    /// Sets up both directions of `backend`; `session` must match on both sides and be
    /// unique per connection.
    pub fn setup<R: CryptoRng + ?Sized>(
        backend: OtBackend,
        role: Role,
        ch: &mut dyn Channel,
        session: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        Self::setup_with(backend, role, ch, session, FerretParams::DEFAULT, rng)
    }

    /// [`OtPair::setup`] with other Ferret parameters (tests).
    pub(crate) fn setup_with<R: CryptoRng + ?Sized>(
        backend: OtBackend,
        role: Role,
        ch: &mut dyn Channel,
        session: u64,
        params: FerretParams,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        Ok(match backend {
            OtBackend::Iknp => OtPair::Iknp(Box::new(IknpPair::setup(role, ch, session, rng)?)),
            OtBackend::Ferret => OtPair::Ferret(Box::new(FerretPair::setup_with(
                role, ch, session, params, rng,
            )?)),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> OtBackend {
        match self {
            OtPair::Iknp(_) => OtBackend::Iknp,
            OtPair::Ferret(_) => OtBackend::Ferret,
        }
    }

    /// The sender and the receiver, for the protocols.
    pub fn parts(&mut self) -> (&mut dyn OtSender, &mut dyn OtReceiver) {
        match self {
            OtPair::Iknp(p) => (&mut p.sender, &mut p.receiver),
            OtPair::Ferret(p) => (&mut p.sender, &mut p.receiver),
        }
    }
}
