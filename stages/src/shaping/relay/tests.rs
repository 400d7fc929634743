//! Fidelity tests of the emulator and its functional tests. The fidelity tests measure
//! time, so they run one at a time (a static lock), warm up first, assert on medians of
//! several fresh relays and take a reading again when it misses (see [`check_rtt`]). They
//! hold on an idle machine and with another process burning a core; on a machine whose
//! every core is busy, the 0.5 ms readings come out several per cent high.

use std::sync::MutexGuard;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Serves one connection on a fresh listener with `serve`; returns its address.
fn server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        serve(stream)
    });
    (addr, handle)
}

fn echo(mut stream: TcpStream) {
    let mut buffer = [0; 64];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => stream.write_all(&buffer[..read]).unwrap(),
        }
    }
}

/// Median round-trip time of 64-byte ping-pongs to `addr`, after a warm-up.
fn ping_median(addr: SocketAddr, rounds: usize) -> Duration {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let ping = [7u8; 64];
    let mut pong = [0u8; 64];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 5 {
        let start = Instant::now();
        stream.write_all(&ping).unwrap();
        stream.read_exact(&mut pong).unwrap();
        if round >= 5 {
            samples.push(start.elapsed().as_secs_f64());
        }
    }
    Duration::from_secs_f64(median(samples))
}

/// Median RTT through a relay shaped as `link`, to an echo server.
fn relay_ping(link: &LinkSpec, rounds: usize) -> (Duration, RelayStats) {
    let (upstream, served) = server(echo);
    let relay = Relay::start(link, upstream).unwrap();
    let rtt = ping_median(relay.addr(), rounds);
    let stats = relay.stop();
    served.join().unwrap();
    (rtt, stats)
}

fn bare_ping(rounds: usize) -> Duration {
    let (upstream, served) = server(echo);
    let rtt = ping_median(upstream, rounds);
    served.join().unwrap();
    rtt
}

/// Sends `bytes` through a relay shaped as `link` to a sink; returns the rate in bit/s the
/// sink sees, from its first read to its last (so neither the set-up of the connection
/// nor the one-way delay counts: they are not a matter of rate).
fn relay_rate(link: &LinkSpec, bytes: usize) -> f64 {
    let (upstream, sunk) = server(|mut stream| {
        let mut buffer = vec![0; 1 << 16];
        let mut total = 0;
        let mut first = None;
        let mut last = Instant::now();
        while let Ok(read @ 1..) = stream.read(&mut buffer) {
            last = Instant::now();
            first.get_or_insert((last, read));
            total += read;
        }
        stream.write_all(&(total as u64).to_le_bytes()).unwrap();
        let (first, first_read) = first.unwrap();
        ((total - first_read) as f64 * 8.0) / (last - first).as_secs_f64()
    });
    let relay = Relay::start(link, upstream).unwrap();
    let mut stream = TcpStream::connect(relay.addr()).unwrap();
    let block = vec![0x5a; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let len = left.min(block.len());
        stream.write_all(&block[..len]).unwrap();
        left -= len;
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let mut total = [0; 8];
    stream.read_exact(&mut total).unwrap();
    assert_eq!(u64::from_le_bytes(total), bytes as u64);
    let rate = sunk.join().unwrap();
    let stats = relay.stop();
    assert_eq!(stats.client_to_server_bytes, bytes as u64);
    rate
}

fn within(measured: f64, target: f64) -> bool {
    ((measured - target) / target).abs() <= 0.05
}

fn assert_within(measured: f64, target: f64, what: &str) {
    let error = (measured - target) / target;
    eprintln!("{what}: measured {measured:.6e}, target {target:.6e}, error {error:+.2e}");
    assert!(
        within(measured, target),
        "{what}: {measured} is not within 5 % of {target}"
    );
}

/// The configured RTT is the end-to-end RTT the endpoints see, relay path included (the
/// relay measures its own cost at start and takes it off the delay; see the module
/// comment).
///
/// A trial starts a relay (so calibrates afresh) and takes the median of `rounds` round
/// trips; an attempt takes the median of `trials` trials. On this kind of machine the
/// cost of the path moves by tens of microseconds with where the scheduler puts the
/// threads of a connection and with what the rest of the machine does, so a reading that
/// misses by more than 5 % is taken again, twice at most: a real error misses every time.
/// The bare loopback RTT is printed for the record only.
fn check_rtt(rtt: Duration, bandwidth_bps: Option<u64>, trials: usize, rounds: usize) {
    let _serial = serial();
    let link = spec(bandwidth_bps, Some(rtt));
    eprintln!("bare loopback rtt {:?}", bare_ping(rounds));
    let mut readings = Vec::new();
    for _ in 0..3 {
        let (mut medians, mut paths) = (Vec::new(), Vec::new());
        for _ in 0..trials {
            let (relayed, stats) = relay_ping(&link, rounds);
            let pings = 64 * (rounds as u64 + 5);
            assert_eq!(stats.connections, 1);
            assert_eq!(stats.client_to_server_bytes, pings);
            assert_eq!(stats.server_to_client_bytes, pings);
            medians.push(relayed.as_secs_f64() * 1e6);
            paths.push(stats.path_rtt.as_secs_f64() * 1e6);
        }
        eprintln!("relay path rtt (µs) {paths:.1?}; trial medians (µs) {medians:.1?}");
        let reading = median(medians) / 1e6;
        readings.push(reading);
        if within(reading, rtt.as_secs_f64()) {
            break;
        }
    }
    assert_within(*readings.last().unwrap(), rtt.as_secs_f64(), "rtt");
}

#[test]
fn rtt_of_half_a_millisecond() {
    check_rtt(Duration::from_micros(500), None, 9, 40);
}

#[test]
fn rtt_of_half_a_millisecond_on_a_7_gbit_link() {
    check_rtt(Duration::from_micros(500), Some(7_000_000_000), 9, 40);
}

#[test]
fn rtt_of_ten_milliseconds() {
    check_rtt(Duration::from_millis(10), None, 5, 20);
}

#[test]
fn rtt_of_ten_milliseconds_on_a_380_mbit_link() {
    check_rtt(Duration::from_millis(10), Some(380_000_000), 5, 20);
}

/// Measures the rate three times (after a short warm-up) and compares the median. A
/// reading that misses by more than 5 % is taken again, twice at most, as in
/// [`check_rtt`]: other load on the machine can stall a transfer, an error of pacing shows
/// every time.
fn check_rate(bandwidth_bps: u64, rtt: Duration) {
    let _serial = serial();
    let link = spec(Some(bandwidth_bps), Some(rtt));
    // Half a second of data per measurement.
    let bytes = (bandwidth_bps / 16) as usize;
    relay_rate(&link, bytes / 10);
    let mut readings = Vec::new();
    for _ in 0..3 {
        let rates: Vec<f64> = (0..3).map(|_| relay_rate(&link, bytes)).collect();
        eprintln!(
            "rates (Mbit/s) {:.1?}",
            rates.iter().map(|rate| rate / 1e6).collect::<Vec<_>>()
        );
        let reading = median(rates);
        readings.push(reading);
        if within(reading, bandwidth_bps as f64) {
            break;
        }
    }
    assert_within(*readings.last().unwrap(), bandwidth_bps as f64, "rate");
}

#[test]
fn rate_of_100_mbit_with_a_wan_delay() {
    check_rate(100_000_000, Duration::from_millis(10));
}

#[test]
fn rate_of_1_gbit_with_a_lan_delay() {
    check_rate(1_000_000_000, Duration::from_micros(500));
}

/// Not asserted: what this machine reaches through the relay above the tested rates.
/// Run with `cargo test -p snni-stages relay_ceiling -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement to report, not a test"]
fn relay_ceiling() {
    let _serial = serial();
    for bandwidth in [None, Some(7_000_000_000)] {
        let link = spec(bandwidth, None);
        relay_rate(&link, 50 << 20);
        let rates = (0..3).map(|_| relay_rate(&link, 400 << 20)).collect();
        eprintln!("configured {bandwidth:?}: {:.3e} bit/s", median(rates));
    }
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
    served.join().unwrap();
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
    served.join().unwrap();
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
    served.join().unwrap();
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
