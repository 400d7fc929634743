//! Fuzz targets (proptest, stable toolchain) for what a peer controls: the frame decoder
//! and the handshake. Arbitrary bytes arrive over a real loopback TCP connection, inside
//! this process (no network needed), and must end in an error or in frames within the
//! configured bound — never in a panic, a hang or an allocation the peer chose.
//!
//! - `frames`: [`TcpChannel::recv`] on arbitrary bytes, with a 4 KiB frame limit.
//! - `handshake`: a client party ([`run_on_channel`]) whose server sends arbitrary bytes,
//!   mostly shaped as frames, so the hello decoder sees them.
//!
//! `PROPTEST_CASES=N` sets the cases (default 256); BENCHMARKS.md, "Fuzzing", has the
//! longer command and what it found.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use proptest::prelude::*;
use snni_engine::channel::{Channel, ChannelConfig, ChannelError, TcpChannel};
use snni_engine::network::{Layer, Network, Op, Shape};
use snni_engine::runtime::{run_on_channel, EngineConfig, Secret};

/// The largest frame the fuzzed receiver accepts.
const LIMIT: usize = 4096;

/// A receiving channel and the raw stream feeding it.
fn connected(config: ChannelConfig) -> (TcpChannel, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (TcpChannel::new(accepted, config).unwrap(), raw)
}

/// Writes `bytes` and closes the writing side, so the receiver sees end of file.
fn feed(raw: &mut TcpStream, bytes: &[u8]) {
    // The receiver may close first (it refused a header); that is its right.
    let _ = raw.write_all(bytes);
    let _ = raw.shutdown(Shutdown::Write);
}

fn config() -> ChannelConfig {
    ChannelConfig {
        max_frame_len: LIMIT,
        read_timeout: Some(Duration::from_secs(5)),
        write_timeout: Some(Duration::from_secs(5)),
        ..ChannelConfig::default()
    }
}

/// Bytes a peer might send: garbage, or length-prefixed frames with lengths around the
/// limit and some lies (a length longer than what follows).
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        prop_oneof![
            0u32..=64,
            (LIMIT as u32 - 2)..=(LIMIT as u32 + 2),
            Just(u32::MAX),
            any::<u32>()
        ],
        prop::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(len, body)| {
            let mut bytes = len.to_le_bytes().to_vec();
            bytes.extend(body);
            bytes
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(frame, 0..6).prop_map(|frames| frames.concat()),
    ]
}

/// A one-layer network, so a handshake that somehow succeeded would fail fast after it.
fn tiny() -> Network {
    Network {
        name: "fuzz".into(),
        family: "custom".into(),
        input: Shape::new(1, 1, 2),
        layers: vec![Layer::new("relu", Op::Relu {})],
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn frames(bytes in stream()) {
        let (mut channel, mut raw) = connected(config());
        feed(&mut raw, &bytes);
        for _ in 0..16 {
            match channel.recv() {
                Ok(frame) => prop_assert!(frame.len() <= LIMIT),
                Err(ChannelError::FrameTooLarge { len, max }) => {
                    prop_assert!(len > max && max == LIMIT);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn handshake(bytes in stream()) {
        let (mut channel, mut raw) = connected(config());
        feed(&mut raw, &bytes);
        let engine = EngineConfig {
            timeout: Duration::from_secs(5),
            ..EngineConfig::default()
        };
        let input = [1u64, 2];
        let result = run_on_channel(&mut channel, &tiny(), &engine, Secret::Input(&input));
        prop_assert!(result.is_err(), "a random peer completed a session");
    }
}
