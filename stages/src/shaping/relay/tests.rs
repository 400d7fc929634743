//! Functional tests of the emulator: bytes arrive intact, closes propagate, and the link is
//! delayed and paced (one-sided bounds only: load can slow a link, never speed it up). How
//! faithful the delay and the rate are is measured, not asserted, by the fidelity benchmark
//! `pipeline/benches/shaping_fidelity.rs` (BENCHMARKS.md, "Shaping fidelity"). The tests
//! run one at a time (a static lock) so that they do not slow each other.

use std::sync::MutexGuard;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::shaping::measure;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    lock(&SERIAL)
}

fn spec(bandwidth_bps: Option<u64>, rtt: Option<Duration>) -> LinkSpec {
    LinkSpec {
        bandwidth_bps,
        rtt,
        loss_percent: None,
    }
}

/// Serves one connection with `serve` (see [`measure::serve_one`]).
fn server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<io::Result<T>>) {
    measure::serve_one(move |stream| Ok(serve(stream))).unwrap()
}

/// The relay delays: a round trip through it is never shorter than the configured RTT
/// (the relay takes its own measured path off the delay, so a tenth is left for a
/// calibration made under load), and other load can only lengthen it. How close to the
/// configured RTT it comes is a measurement, in the fidelity benchmark
/// (`pipeline/benches/shaping_fidelity.rs`), not an assertion here.
#[test]
fn a_round_trip_takes_at_least_the_configured_rtt() {
    let _serial = serial();
    let rtt = Duration::from_millis(10);
    for bandwidth in [None, Some(380_000_000)] {
        let rounds = 10;
        let (relayed, stats) = measure::relay_ping(&spec(bandwidth, Some(rtt)), rounds).unwrap();
        assert_eq!(stats.connections, 1);
        assert_eq!(stats.client_to_server_bytes, measure::ping_bytes(rounds));
        assert_eq!(stats.server_to_client_bytes, measure::ping_bytes(rounds));
        assert!(
            relayed >= rtt.mul_f64(0.9),
            "bandwidth {bandwidth:?}: a round trip took {relayed:?}, under the configured {rtt:?}"
        );
    }
}

/// The relay paces: what arrives never comes faster than the configured bandwidth (a tenth
/// over for the granularity of pacing); load can only slow it. How close it comes is in
/// the fidelity benchmark.
#[test]
fn data_never_arrives_faster_than_the_configured_bandwidth() {
    let _serial = serial();
    let bandwidth = 100_000_000u64;
    let link = spec(Some(bandwidth), Some(Duration::from_millis(10)));
    // A quarter of a second of data; relay_rate checks that every byte arrived.
    let rate = measure::relay_rate(&link, (bandwidth / 32) as usize).unwrap();
    assert!(
        rate <= bandwidth as f64 * 1.1,
        "data arrived at {:.1} Mbit/s through a {} Mbit/s link",
        rate / 1e6,
        bandwidth / 1_000_000
    );
}

/// Writes `data` in pieces of random size.
fn send_in_pieces(stream: &mut TcpStream, data: &[u8], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut at = 0;
    while at < data.len() {
        let len = rng.random_range(1..=100_000).min(data.len() - at);
        stream.write_all(&data[at..at + len]).unwrap();
        at += len;
    }
    stream.shutdown(Shutdown::Write).unwrap();
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

#[test]
fn bytes_arrive_intact_and_in_order_both_ways_at_once() {
    let _serial = serial();
    let up = random_bytes(6 << 20, 1);
    let down = random_bytes(5 << 20, 2);
    let (expect_up, sent_down) = (up.clone(), down.clone());
    let (upstream, served) = server(move |mut stream| {
        let mut writer = stream.try_clone().unwrap();
        let sending = thread::spawn(move || send_in_pieces(&mut writer, &sent_down, 3));
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        sending.join().unwrap();
        assert!(received == expect_up, "client-to-server bytes differ");
    });
    let link = spec(Some(1_000_000_000), Some(Duration::from_millis(1)));
    let relay = Relay::start(&link, upstream).unwrap();
    let mut stream = TcpStream::connect(relay.addr()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sending = thread::spawn(move || send_in_pieces(&mut writer, &up, 4));
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    sending.join().unwrap();
    served.join().unwrap().unwrap();
    assert!(received == down, "server-to-client bytes differ");
    let stats = relay.stop();
    assert_eq!(stats.client_to_server_bytes, 6 << 20);
    assert_eq!(stats.server_to_client_bytes, 5 << 20);
}

#[test]
fn half_close_reaches_the_other_side_and_the_reply_still_flows() {
    let _serial = serial();
    let (upstream, served) = server(|mut stream| {
        let mut request = Vec::new();
        stream.read_to_end(&mut request).unwrap();
        stream.write_all(&request).unwrap();
        stream.write_all(b" and back").unwrap();
    });
    let relay = Relay::start(&spec(None, Some(Duration::from_millis(2))), upstream).unwrap();
    let mut stream = TcpStream::connect(relay.addr()).unwrap();
    stream.write_all(b"there").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "there and back");
    served.join().unwrap().unwrap();
    drop(relay);
}

#[test]
fn stop_closes_connections_with_data_in_flight() {
    let _serial = serial();
    let (upstream, served) = server(|mut stream| {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    // 1 Mbit/s: a megabyte would take eight seconds to cross.
    let relay = Relay::start(&spec(Some(1_000_000), None), upstream).unwrap();
    let mut stream = TcpStream::connect(relay.addr()).unwrap();
    stream.write_all(&vec![1; 1 << 20]).unwrap();
    thread::sleep(Duration::from_millis(50));
    let stats = relay.stop();
    assert_eq!(stats.connections, 1);
    assert!(stats.client_to_server_bytes < 1 << 20);
    served.join().unwrap().unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn loss_is_refused_and_zero_bandwidth_is_invalid() {
    let _serial = serial();
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    let lossy = LinkSpec {
        loss_percent: Some(1.0),
        ..LinkSpec::default()
    };
    let error = Relay::start(&lossy, upstream).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    let error = Relay::start(&spec(Some(0), None), upstream).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}
