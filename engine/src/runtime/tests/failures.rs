//! Failure paths: each is an error naming the phase or layer, never a panic or a hang.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::super::handshake::{exchange, Hello};
use super::super::*;
use super::{check_with, config, net, run_pair, squeezenet_like};
use crate::channel::{Channel, ChannelError, Meter, TcpChannel};
use crate::network::{Network, Op, Shape};

#[test]
fn wrong_digest_is_an_error_on_both_sides() {
    let a = squeezenet_like();
    let mut b = a.clone();
    b.name = "other".into();
    b.layers[0].op = Op::conv(16, 3, 2, 1, true);
    let config = config();
    let (server, client) = run_pair(&a, &b, &config, &config);
    for err in [server.unwrap_err(), client.unwrap_err()] {
        let text = err.to_string();
        assert!(
            text.contains("network digest mismatch: server runs "),
            "{text}"
        );
        assert!(text.contains("(squeeze-tiny), client "), "{text}");
        assert!(text.ends_with("(other)"), "{text}");
    }
    let mut other = config.clone();
    other.scale = 9;
    let (server, _) = run_pair(&a, &a, &config, &other);
    assert!(server
        .unwrap_err()
        .to_string()
        .contains("fixed-point mismatch"));
}

/// A fake client: handshakes correctly, then runs `then` on the framed channel and a raw
/// handle on the same stream. Returns the server's error.
fn fake_client(
    network: &Network,
    then: impl FnOnce(&mut TcpChannel, &mut TcpStream) + Send,
) -> RuntimeError {
    let mut config = config();
    config.timeout = Duration::from_secs(5);
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        let server = s.spawn(|| run_server(network, &WeightSource::Seed(1), &config, &listener));
        let mut raw = TcpStream::connect(addr).unwrap();
        let mut ch = TcpChannel::new(raw.try_clone().unwrap(), channel_config(&config)).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let hello = Hello::new(
            Party::Client,
            &network.name,
            &network.digest(),
            config.ell,
            config.scale,
            config.he.clone().unwrap(),
            config.ot,
            &mut rng,
        );
        exchange(&mut ch, &hello).unwrap();
        then(&mut ch, &mut raw);
        server.join().expect("server thread panicked").unwrap_err()
    })
}

#[test]
fn garbage_truncated_and_oversized_frames_are_errors() {
    let network = squeezenet_like();
    let err = fake_client(&network, |ch, _| {
        ch.send(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).unwrap();
        ch.flush().unwrap();
    });
    assert_eq!(
        err.to_string(),
        "setup: peer is out of step: received a frame for unknown step 0xefbeadde while running setup"
    );
    let err = fake_client(&network, |ch, _| {
        let mut msg = super::frame::SETUP.to_le_bytes().to_vec();
        msg.extend_from_slice(b"not a public key");
        ch.send(&msg).unwrap();
        ch.flush().unwrap();
    });
    assert!(
        err.to_string()
            .starts_with("setup: malformed public key frame from peer: "),
        "{err}"
    );
    let err = fake_client(&network, |_, raw| {
        // Announce 100 bytes, send 10, hang up.
        raw.write_all(&100u32.to_le_bytes()).unwrap();
        raw.write_all(&[0; 10]).unwrap();
        raw.shutdown(std::net::Shutdown::Both).unwrap();
    });
    assert_eq!(
        err.to_string(),
        "setup: frame truncated: expected 100 bytes, received 10"
    );
    let err = fake_client(&network, |_, raw| {
        raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
    });
    assert!(
        err.to_string()
            .starts_with("setup: frame of 4294967295 bytes exceeds the limit"),
        "{err}"
    );
}

/// What a [`Faulty`] channel does at its chosen send.
#[derive(Clone, Copy)]
enum Fault {
    /// Hang up.
    Drop,
    /// Stop sending for this long, then hang up.
    Stall(Duration),
    /// Replace the payload (after the step tag) with garbage.
    Corrupt,
    /// Replace the last quarter of the payload with garbage.
    CorruptTail,
    /// Send this many bytes (after the step tag) instead of the payload.
    Inflate(usize),
    /// Set 16 bytes in the middle of the payload to 0xff.
    Saturate,
}

/// A client channel that misbehaves at its `at`-th send.
struct Faulty {
    inner: Option<TcpChannel>,
    at: u64,
    sent: u64,
    fault: Fault,
}

impl Channel for Faulty {
    fn send(&mut self, msg: &[u8]) -> std::result::Result<(), ChannelError> {
        self.sent += 1;
        let inner = self.inner.as_mut().ok_or(ChannelError::Disconnected)?;
        if self.sent != self.at {
            return inner.send(msg);
        }
        match self.fault {
            Fault::Corrupt | Fault::CorruptTail => {
                let keep = match self.fault {
                    Fault::Corrupt => 4,
                    _ => msg.len() - msg.len() / 4,
                };
                let mut bad = msg[..keep].to_vec();
                bad.extend((0..msg.len() - keep).map(|i| (i * 37 % 251) as u8));
                inner.send(&bad)
            }
            Fault::Saturate => {
                // A peer that means it: the frame's CRC-32 (after the 4-byte step tag) is
                // recomputed, so only the range checks can refuse it.
                let mut bad = msg.to_vec();
                let mid = bad.len() / 2;
                bad[mid..mid + 16].fill(0xff);
                let end = bad.len() - 4;
                let crc = crc32fast::hash(&bad[4..end]);
                bad[end..].copy_from_slice(&crc.to_le_bytes());
                inner.send(&bad)
            }
            Fault::Inflate(len) => {
                let mut big = msg[..4].to_vec();
                big.resize(4 + len, 0x5a);
                inner.send(&big)
            }
            Fault::Drop | Fault::Stall(_) => {
                if let Fault::Stall(pause) = self.fault {
                    std::thread::sleep(pause);
                }
                self.inner = None;
                Err(ChannelError::Disconnected)
            }
        }
    }
    fn recv(&mut self) -> std::result::Result<Vec<u8>, ChannelError> {
        self.inner
            .as_mut()
            .ok_or(ChannelError::Disconnected)?
            .recv()
    }
    fn flush(&mut self) -> std::result::Result<(), ChannelError> {
        self.inner
            .as_mut()
            .ok_or(ChannelError::Disconnected)?
            .flush()
    }
    fn meter(&self) -> Meter {
        self.inner.as_ref().map(|c| c.meter()).unwrap_or_default()
    }
}

/// A one-conv network; returns how many frames the real server and client send before
/// layer 0.
fn one_conv() -> (Network, u64, u64) {
    let network = net("one-conv", Shape::new(5, 5, 2), |b| {
        b.push("conv1", Op::conv(2, 3, 1, 1, true));
        b.push("relu1", Op::Relu {});
    });
    let (server, client, _) = check_with(&network, &config());
    (
        network,
        server.run.setup.messages_sent,
        client.run.setup.messages_sent,
    )
}

/// Runs a real client against a real server whose channel misbehaves; returns the client's
/// error.
fn faulty_server(network: &Network, at: u64, fault: Fault) -> RuntimeError {
    let config = config();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let inner = TcpChannel::accept(&listener, channel_config(&config)).unwrap();
            let mut ch = Faulty {
                inner: Some(inner),
                at,
                sent: 0,
                fault,
            };
            let weights = Weights::load(&WeightSource::Seed(1), network, &config).unwrap();
            run_on_channel(&mut ch, network, &config, Secret::Weights(&weights)).unwrap_err()
        });
        let client = run_client(network, &InputSource::Seed(2), &config, addr).unwrap_err();
        server.join().expect("server thread panicked");
        client
    })
}

#[test]
fn corrupt_answers_and_missing_clients_are_errors() {
    let (network, server_setup, _) = one_conv();
    // Layer 0: the server sends a count frame, then its answer.
    let err = faulty_server(&network, server_setup + 2, Fault::Corrupt);
    assert!(
        err.to_string()
            .starts_with("layer 0 'conv1': malformed answer frame from peer: "),
        "{err}"
    );
    // Inside c1 (serialized polynomial): rejected by the HE library, never a panic.
    let err = faulty_server(&network, server_setup + 2, Fault::CorruptTail);
    assert!(
        err.to_string()
            .starts_with("layer 0 'conv1': malformed answer frame from peer: "),
        "{err}"
    );
    let err = faulty_client_tail(&network);
    assert!(
        err.to_string()
            .starts_with("layer 0 'conv1': malformed ciphertext frame from peer: "),
        "{err}"
    );
    let mut config = config();
    config.timeout = Duration::from_millis(200);
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let err = run_server(&network, &WeightSource::Seed(1), &config, &listener).unwrap_err();
    assert_eq!(
        error_chain(&err),
        "accept: connection to the peer failed: timed out waiting for the peer"
    );
}

/// The server's error when the client's first ciphertext has a corrupt tail.
fn faulty_client_tail(network: &Network) -> RuntimeError {
    let (_, _, client_setup) = one_conv();
    faulty_client(
        network,
        client_setup + 2,
        Fault::CorruptTail,
        Duration::from_secs(60),
    )
}

/// The error and its causes, joined by ": ".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Runs the real server against a real client whose channel misbehaves; returns the
/// server's error.
fn faulty_client(network: &Network, at: u64, fault: Fault, timeout: Duration) -> RuntimeError {
    let mut config = config();
    config.timeout = timeout;
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        let server = s.spawn(|| run_server(network, &WeightSource::Seed(1), &config, &listener));
        let inner = TcpChannel::connect(addr, channel_config(&config)).unwrap();
        let mut ch = Faulty {
            inner: Some(inner),
            at,
            sent: 0,
            fault,
        };
        let input = Input::load(&InputSource::Seed(2), network, &config).unwrap();
        let client = run_on_channel(&mut ch, network, &config, Secret::Input(&input.values));
        assert!(client.is_err());
        drop(ch);
        server.join().expect("server thread panicked").unwrap_err()
    })
}

#[test]
fn drop_stall_and_corruption_mid_layer_name_the_layer() {
    let (network, _, setup_frames) = one_conv();
    let long = Duration::from_secs(60);
    // Layer 0: the client sends a count frame, then its ciphertext.
    let err = faulty_client(&network, setup_frames + 2, Fault::Drop, long);
    assert_eq!(err.to_string(), "layer 0 'conv1': peer closed the channel");
    let err = faulty_client(&network, setup_frames + 2, Fault::Corrupt, long);
    assert!(
        err.to_string()
            .starts_with("layer 0 'conv1': malformed ciphertext frame from peer: "),
        "{err}"
    );
    let pause = Duration::from_millis(2500);
    let err = faulty_client(
        &network,
        setup_frames + 2,
        Fault::Stall(pause),
        Duration::from_secs(1),
    );
    assert_eq!(
        err.to_string(),
        "layer 0 'conv1': timed out waiting for the peer"
    );
}

#[test]
fn weights_over_the_he_bound_fail_naming_the_layer() {
    let network = net("heavy", Shape::new(3, 3, 2), |b| {
        b.push("ok", Op::conv(2, 1, 1, 0, false));
        b.push("heavy", Op::conv(2, 3, 1, 1, false));
    });
    let config = config();
    let shapes = network.validate().unwrap();
    let mut weights = Weights::random(&network, &shapes, 1, config.scale, config.ell);
    // 2^20 is the L1 bound of the test parameters; 18 taps of 2^16 exceed it.
    let big = 1u64 << 16;
    weights.layers[1].weights.iter_mut().for_each(|w| *w = big);
    let path = std::env::temp_dir().join(format!("snni-heavy-{}.json", std::process::id()));
    weights
        .write_file(&path, &network, config.scale, config.ell)
        .unwrap();
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let (server, client) = std::thread::scope(|s| {
        let server = s.spawn(|| {
            run_server(
                &network,
                &WeightSource::File(path.clone()),
                &config,
                &listener,
            )
        });
        let client = run_client(&network, &InputSource::Seed(2), &config, addr);
        (server.join().unwrap(), client)
    });
    std::fs::remove_file(&path).unwrap();
    let err = server.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "layer 1 'heavy': HE linear layer failed: run linear layer: weight L1 norm 2^"
        ),
        "{err}"
    );
    let err = client.unwrap_err().to_string();
    assert!(err.starts_with("layer 1 'heavy': "), "{err}");
}

/// Before the handshake the peer is unknown: a frame of more than a few KiB is refused on
/// its header, without reading (or buffering) its body.
#[test]
fn an_unknown_peer_cannot_send_a_large_frame() {
    let network = squeezenet_like();
    let mut config = config();
    config.timeout = Duration::from_secs(5);
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let err = std::thread::scope(|s| {
        let server = s.spawn(|| run_server(&network, &WeightSource::Seed(1), &config, &listener));
        let mut raw = TcpStream::connect(addr).unwrap();
        // Announce 1 MiB and send only the header: the server must not wait for the body.
        raw.write_all(&(1u32 << 20).to_le_bytes()).unwrap();
        server.join().expect("server thread panicked").unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        "handshake: frame of 1048576 bytes exceeds the limit of 4096 bytes"
    );
}

/// After the handshake every frame is checked against the largest the plan expects in its
/// step, on its header: a ciphertext or an OT message inflated far past the plan is refused
/// before anything of it is buffered, naming the layer.
#[test]
fn frames_larger_than_the_plan_are_refused_naming_the_layer() {
    let (network, _, setup_frames) = one_conv();
    let config = config();
    let desc = config.he.clone().unwrap();
    let plan = ExecPlan::with_ot(&network, &desc, config.scale, config.ot).unwrap();
    let long = Duration::from_secs(60);
    // Layer 0: the client's count frame, then its first ciphertext.
    let limit = plan.frames[0].server;
    let conv = plan.linear[0].as_ref().expect("layer 0 is a convolution");
    assert_eq!(limit, conv.upload_bytes(&desc));
    let err = faulty_client(
        &network,
        setup_frames + 2,
        Fault::Inflate(3 * limit as usize),
        long,
    );
    assert_eq!(
        err.to_string(),
        format!(
            "layer 0 'conv1': frame of {} bytes exceeds the limit of {} bytes",
            3 * limit + 4,
            conv.upload_bytes(&desc) + 4
        )
    );
    // The count frame may hold 4 bytes only.
    let err = faulty_client(&network, setup_frames + 1, Fault::Inflate(64 << 20), long);
    assert_eq!(
        err.to_string(),
        format!(
            "layer 0 'conv1': frame of {} bytes exceeds the limit of 8 bytes",
            (64 << 20) + 4
        )
    );
}

/// A peer that trickles a frame, each byte well within the timeout, is cut off when the
/// message's deadline passes: `--timeout` is per message, not per read.
#[test]
fn a_trickling_peer_hits_the_message_deadline() {
    let network = squeezenet_like();
    let err = fake_client(&network, |_, raw| {
        let mut frame = 1000u32.to_le_bytes().to_vec();
        frame.extend(super::super::frame::SETUP.to_le_bytes());
        frame.resize(1004, 0);
        // One byte every 50 ms: 50 s for the frame, the timeout is 5 s.
        for byte in frame {
            std::thread::sleep(Duration::from_millis(50));
            if raw.write_all(&[byte]).is_err() {
                return;
            }
        }
    });
    assert_eq!(err.to_string(), "setup: timed out waiting for the peer");
}

/// The server range-checks every residue of the client's ciphertexts (in every build): an
/// unreduced one is an error naming the layer, never a panic or a silent wrong result.
#[test]
fn out_of_range_residues_are_refused_naming_the_layer() {
    let (network, _, setup_frames) = one_conv();
    let err = faulty_client(
        &network,
        setup_frames + 2,
        Fault::Saturate,
        Duration::from_secs(60),
    );
    let text = err.to_string();
    assert!(
        text.starts_with("layer 0 'conv1': malformed ciphertext frame from peer: read a ciphertext from the peer: residue "),
        "{text}"
    );
    assert!(text.contains("not below the modulus"), "{text}");
}

/// Truncation inputs that leave the range the 1-ulp bound assumes are counted by the
/// client and become a warning naming the layer.
#[test]
fn truncation_overflow_is_counted_and_named() {
    // Inputs lie in [−1, 1). bn1 (γ = 1, β = 0) keeps them there. bn2 (γ = 1, β = ±1800)
    // feeds (±1800 + x)·2^(2s) into its truncation: at ℓ = 32, s = 10 that is beyond
    // 1.5·2^(ℓ−2) in magnitude (every such input is flagged) and below 2^(ℓ−1) (no wrap).
    let network = net("overflow", Shape::new(4, 4, 2), |b| {
        b.push("bn1", Op::BatchNorm {});
        b.push("bn2", Op::BatchNorm {});
    });
    let config = config();
    let shapes = network.validate().unwrap();
    let mut weights = Weights::random(&network, &shapes, 1, config.scale, config.ell);
    let encode = |v: f64| crate::nonlinear::fixed::encode(v, config.scale, config.ell);
    for (layer, beta) in weights.layers.iter_mut().zip([0.0, 1800.0]) {
        layer.weights.iter_mut().for_each(|w| *w = encode(1.0));
        for (c, b) in layer.bias.iter_mut().enumerate() {
            *b = encode(if c % 2 == 0 { beta } else { -beta });
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let (server, client) = std::thread::scope(|s| {
        let server = s.spawn(|| serve(&network, &weights, &config, &listener));
        let client = run_client(&network, &InputSource::Seed(2), &config, addr);
        (server.join().unwrap().unwrap(), client.unwrap())
    });
    let counts: Vec<u64> = client
        .layers
        .iter()
        .map(|l| l.truncation_out_of_range)
        .collect();
    assert_eq!(counts[0], 0, "bn1 stays in range");
    assert_eq!(
        counts[1], 32,
        "every one of bn2's 32 inputs is out of range"
    );
    assert!(server.layers.iter().all(|l| l.truncation_out_of_range == 0));
    let warnings = client.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("layer 1 'bn2': ") && warnings[0].contains("outside ±2^30"),
        "{warnings:?}"
    );
    assert!(server.warnings().is_empty());
}
