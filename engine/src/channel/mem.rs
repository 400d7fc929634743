//! [`MemChannel`] and [`mem_pair`]: two in-memory endpoints over `std::sync::mpsc`, so that
//! protocol tests run both parties in one process without sockets.

use std::sync::mpsc;

use super::meter::MeterState;
use super::{Channel, ChannelConfig, ChannelError, Meter};

/// One endpoint of an in-memory channel pair (see [`mem_pair`]).
#[derive(Debug)]
pub struct MemChannel {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    pending: Vec<Vec<u8>>,
    config: ChannelConfig,
    meter: MeterState,
}

/// Two connected in-memory endpoints with the default configuration.
pub fn mem_pair() -> (MemChannel, MemChannel) {
    mem_pair_with(ChannelConfig::default())
}

/// Two connected in-memory endpoints with the given configuration.
pub fn mem_pair_with(config: ChannelConfig) -> (MemChannel, MemChannel) {
    let (tx_a, rx_b) = mpsc::channel();
    let (tx_b, rx_a) = mpsc::channel();
    let endpoint = |tx, rx, config| MemChannel {
        tx,
        rx,
        pending: Vec::new(),
        config,
        meter: MeterState::default(),
    };
    (
        endpoint(tx_a, rx_a, config.clone()),
        endpoint(tx_b, rx_b, config),
    )
}

impl Channel for MemChannel {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        self.config.check_len(msg.len())?;
        self.pending.push(msg.to_vec());
        self.meter.on_send(msg.len());
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.flush()?;
        let msg = match self.config.read_timeout {
            None => self.rx.recv().map_err(|_| ChannelError::Disconnected)?,
            Some(timeout) => self.rx.recv_timeout(timeout).map_err(|err| match err {
                mpsc::RecvTimeoutError::Timeout => ChannelError::Timeout,
                mpsc::RecvTimeoutError::Disconnected => ChannelError::Disconnected,
            })?,
        };
        self.config.check_len(msg.len())?;
        self.meter.on_recv(msg.len());
        Ok(msg)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        for msg in self.pending.drain(..) {
            self.tx.send(msg).map_err(|_| ChannelError::Disconnected)?;
        }
        Ok(())
    }

    fn meter(&self) -> Meter {
        self.meter.meter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::test_util::{exercise, small_config};

    #[test]
    fn mem_pair_delivers_and_meters() {
        let (mut a, mut b) = mem_pair_with(small_config());
        exercise(&mut a, &mut b);
    }

    #[test]
    fn oversized_send_is_refused() {
        let (mut a, _b) = mem_pair_with(small_config());
        assert!(matches!(
            a.send(&[0u8; 1025]),
            Err(ChannelError::FrameTooLarge { len: 1025, .. })
        ));
    }
}
