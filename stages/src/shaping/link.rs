//! The link a network setting asks for: bandwidth, round-trip time and loss.
//!
//! [`LinkSpec`] is shared by the shaping backends (`tc` and `relay`), so that a setting is
//! described once and each backend turns it into its own mechanism.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The properties of an emulated link between client and server.
///
/// Every field is optional: `None` means "leave this property as the underlying network
/// has it" (loopback, for the Local setting).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LinkSpec {
    /// Bandwidth in bits per second, the same in each direction.
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time; each direction gets half of it as one-way delay.
    pub rtt: Option<Duration>,
    /// Packet loss in percent (0–100), applied per direction.
    pub loss_percent: Option<f64>,
}

impl LinkSpec {
    /// A link with no shaping at all.
    pub fn unshaped() -> Self {
        Self::default()
    }

    /// True when no property is shaped (no bandwidth limit, no delay, no loss).
    pub fn is_unshaped(&self) -> bool {
        self.bandwidth_bps.is_none()
            && self.rtt.is_none_or(|rtt| rtt.is_zero())
            && self.loss_percent.is_none_or(|loss| loss == 0.0)
    }

    /// The one-way delay of each direction: half the round-trip time (zero if unset).
    pub fn one_way_delay(&self) -> Duration {
        self.rtt.map_or(Duration::ZERO, |rtt| rtt / 2)
    }

    /// The time `bytes` take to cross the link at its bandwidth (`None` when unlimited).
    ///
    /// A bandwidth of zero is treated as unlimited; backends reject it before use.
    pub fn transmit_time(&self, bytes: usize) -> Option<Duration> {
        let bps = self.bandwidth_bps.filter(|&bps| bps > 0)?;
        let nanos = bytes as u128 * 8 * 1_000_000_000 / u128::from(bps);
        Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// True when the spec asks for packet loss (a loss above zero).
    pub fn has_loss(&self) -> bool {
        self.loss_percent.is_some_and(|loss| loss > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_follow_the_fields() {
        let lan = LinkSpec {
            bandwidth_bps: Some(8_000_000),
            rtt: Some(Duration::from_micros(500)),
            loss_percent: None,
        };
        assert!(!lan.is_unshaped());
        assert_eq!(lan.one_way_delay(), Duration::from_micros(250));
        assert_eq!(lan.transmit_time(1_000), Some(Duration::from_millis(1)));
        assert!(!lan.has_loss());
        assert!(LinkSpec::unshaped().is_unshaped());
        assert_eq!(LinkSpec::unshaped().transmit_time(1), None);
        assert_eq!(LinkSpec::unshaped().one_way_delay(), Duration::ZERO);
    }
}
