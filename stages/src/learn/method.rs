//! [`Method`]: the prediction methods, with the names stored in tables and models, the
//! headings the report gives them, and the order both list them in.

use std::fmt;
use std::str::FromStr;

/// A prediction method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// NNLS on the study's layer parameters and engineered features.
    Analytical,
    /// NNLS on the engine's planned protocol counts and the link's terms.
    Protocol,
    /// The Local protocol-counts model plus the target setting's wire and round-trip time.
    Transfer,
    /// A per-layer MLP (candle).
    Mlp,
    /// The whole-network sequence model (candle).
    Rnn,
}

impl Method {
    /// The per-layer methods, in table order.
    pub const PER_LAYER: [Method; 4] = [
        Method::Analytical,
        Method::Protocol,
        Method::Transfer,
        Method::Mlp,
    ];

    /// The whole-network methods, in table order: the per-layer methods' sums plus
    /// overhead, and the sequence model.
    pub const NETWORK: [Method; 5] = [
        Method::Analytical,
        Method::Protocol,
        Method::Transfer,
        Method::Mlp,
        Method::Rnn,
    ];

    /// The name stored in tables, model outputs and `snni predict --method`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Analytical => "analytical",
            Method::Protocol => "protocol",
            Method::Transfer => "transfer",
            Method::Mlp => "mlp",
            Method::Rnn => "rnn",
        }
    }

    /// The heading the report's per-layer tables give it.
    pub const fn label(self) -> &'static str {
        match self {
            Method::Analytical => "Analytical",
            Method::Protocol => "Protocol",
            Method::Transfer => "Protocol (from Local)",
            Method::Mlp => "MLP",
            Method::Rnn => "RNN",
        }
    }

    /// Whether its predictions are trusted far outside its training range: the linear
    /// count models extrapolate, a plain MLP and the sequence model saturate or swing there
    /// (an MLP that is a residual on the protocol prediction is trusted as that is:
    /// `PartyPredictor::extrapolates`).
    pub const fn extrapolates(self) -> bool {
        !matches!(self, Method::Mlp | Method::Rnn)
    }

    /// The names of `methods`, joined by ", " (for messages listing the choices).
    pub fn names(methods: &[Method]) -> String {
        methods
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A name that is not a method's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method `{0}` (methods: analytical, protocol, transfer, mlp, rnn)")]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(name: &str) -> Result<Method, UnknownMethod> {
        Method::NETWORK
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| UnknownMethod(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_keep_their_stored_spelling() {
        let names: Vec<&str> = Method::NETWORK.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["analytical", "protocol", "transfer", "mlp", "rnn"]);
        for method in Method::NETWORK {
            assert_eq!(method.name().parse::<Method>(), Ok(method));
        }
        assert_eq!(Method::PER_LAYER, Method::NETWORK[..4]);
        let error = "lstm".parse::<Method>().unwrap_err().to_string();
        assert!(error.contains(&Method::names(&Method::NETWORK)), "{error}");
    }
}
