//! Test helpers: run the two parties of a protocol on two threads.

use std::time::Duration;

use super::{OtError, OtReceiver, OtSender};
use crate::channel::{mem_pair_with, Channel, ChannelConfig, TcpChannel};

/// A generous read timeout, so a protocol bug fails the test instead of hanging it.
fn config() -> ChannelConfig {
    ChannelConfig {
        read_timeout: Some(Duration::from_secs(300)),
        ..ChannelConfig::default()
    }
}

/// Runs `server` and `client` on two threads over an in-memory channel pair.
pub(crate) fn run_mem<A, B, FA, FB>(server: FA, client: FB) -> (A, B)
where
    A: Send,
    B: Send,
    FA: FnOnce(&mut dyn Channel) -> A + Send,
    FB: FnOnce(&mut dyn Channel) -> B + Send,
{
    let (mut cs, mut cc) = mem_pair_with(config());
    run_on(&mut cs, &mut cc, server, client)
}

/// Runs `server` and `client` on two threads over a loopback TCP pair.
pub(crate) fn run_tcp<A, B, FA, FB>(server: FA, client: FB) -> (A, B)
where
    A: Send,
    B: Send,
    FA: FnOnce(&mut dyn Channel) -> A + Send,
    FB: FnOnce(&mut dyn Channel) -> B + Send,
{
    let (mut cs, mut cc) = TcpChannel::loopback_pair(config()).unwrap();
    run_on(&mut cs, &mut cc, server, client)
}

fn run_on<A, B, FA, FB, CA, CB>(cs: &mut CA, cc: &mut CB, server: FA, client: FB) -> (A, B)
where
    A: Send,
    B: Send,
    FA: FnOnce(&mut dyn Channel) -> A + Send,
    FB: FnOnce(&mut dyn Channel) -> B + Send,
    CA: Channel + Send,
    CB: Channel + Send,
{
    std::thread::scope(|s| {
        let a = s.spawn(move || server(cs));
        let b = client(cc);
        (a.join().expect("server thread panicked"), b)
    })
}

/// An OT backend that must never be called: for tests of input checks that fail before any
/// OT runs.
pub(crate) struct NoOt;

impl OtSender for NoOt {
    fn send_chosen(&mut self, _: &mut dyn Channel, _: &[[u128; 2]]) -> Result<(), OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn send_random(&mut self, _: &mut dyn Channel, _: usize) -> Result<Vec<[u128; 2]>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn send_random_choice(
        &mut self,
        _: &mut dyn Channel,
        _: usize,
    ) -> Result<Vec<[u128; 2]>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn send_correlated(
        &mut self,
        _: &mut dyn Channel,
        _: &[u64],
        _: u32,
    ) -> Result<Vec<u64>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
}

impl OtReceiver for NoOt {
    fn recv_chosen(&mut self, _: &mut dyn Channel, _: &[bool]) -> Result<Vec<u128>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn recv_random(&mut self, _: &mut dyn Channel, _: &[bool]) -> Result<Vec<u128>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn recv_random_choice(
        &mut self,
        _: &mut dyn Channel,
        _: usize,
    ) -> Result<(Vec<bool>, Vec<u128>), OtError> {
        unreachable!("input checks must fail before any OT")
    }
    fn recv_correlated(
        &mut self,
        _: &mut dyn Channel,
        _: &[bool],
        _: u32,
    ) -> Result<Vec<u64>, OtError> {
        unreachable!("input checks must fail before any OT")
    }
}
