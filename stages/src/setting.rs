//! Network settings: the link a profile runs under (bandwidth, round-trip time, loss).
//!
//! A study names its settings; `local`, `lan` and `wan` exist in every study with the
//! original study's values (loopback; ≈7 Gbit/s and 0.5 ms; ≈380 Mbit/s and 10 ms), and a
//! manifest may override their fields or add settings of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::shaping::LinkSpec;

/// One network setting. Loopback (no shaping) when every field is absent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Link rate in bit/s, the same each way.
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time in microseconds.
    pub rtt_us: Option<f64>,
    /// Packet loss in percent.
    pub loss_percent: Option<f64>,
}

impl Setting {
    /// The study's Local setting: loopback, no shaping.
    pub const LOCAL: Setting = Setting {
        bandwidth_bps: None,
        rtt_us: None,
        loss_percent: None,
    };
    /// The study's LAN setting: ≈7 Gbit/s, 0.5 ms round trip.
    pub const LAN: Setting = Setting {
        bandwidth_bps: Some(7_000_000_000),
        rtt_us: Some(500.0),
        loss_percent: None,
    };
    /// The study's WAN setting: ≈380 Mbit/s, 10 ms round trip.
    pub const WAN: Setting = Setting {
        bandwidth_bps: Some(380_000_000),
        rtt_us: Some(10_000.0),
        loss_percent: None,
    };

    /// The built-in setting called `name` (`local`, `lan`, `wan`).
    pub fn builtin(name: &str) -> Option<Setting> {
        match name {
            "local" => Some(Self::LOCAL),
            "lan" => Some(Self::LAN),
            "wan" => Some(Self::WAN),
            _ => None,
        }
    }

    /// Every built-in setting by name.
    pub fn builtins() -> BTreeMap<String, Setting> {
        ["local", "lan", "wan"]
            .into_iter()
            .filter_map(|name| Some((name.to_string(), Self::builtin(name)?)))
            .collect()
    }

    /// The link a shaping backend must emulate.
    pub fn link(&self) -> LinkSpec {
        LinkSpec {
            bandwidth_bps: self.bandwidth_bps,
            rtt: self
                .rtt_us
                .map(|us| Duration::from_nanos((us * 1e3).round() as u64)),
            loss_percent: self.loss_percent,
        }
    }

    /// True when the setting asks for any shaping at all.
    pub fn is_shaped(&self) -> bool {
        !self.link().is_unshaped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_the_study_settings() {
        assert!(!Setting::builtin("local").unwrap().is_shaped());
        let lan = Setting::builtin("lan").unwrap().link();
        assert_eq!(lan.rtt, Some(Duration::from_micros(500)));
        assert_eq!(lan.bandwidth_bps, Some(7_000_000_000));
        let wan = Setting::builtin("wan").unwrap().link();
        assert_eq!(wan.rtt, Some(Duration::from_millis(10)));
        assert_eq!(Setting::builtins().len(), 3);
        assert_eq!(Setting::builtin("moon"), None);
    }
}
