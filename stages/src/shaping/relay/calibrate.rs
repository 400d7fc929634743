//! Calibration of the relay's own round-trip time, so that the configured RTT is the one
//! the two endpoints measure.
//!
//! A message through the relay crosses loopback twice each way and wakes a thread at each
//! hop (the relay's reader, then the receiving endpoint). The reader stamps a chunk once it
//! has read it, so the handoff to the writer is hidden inside the configured delay, but the
//! hops are not: together they cost a few tens of microseconds, several per cent of a
//! 0.5 ms RTT. [`path_rtt`] measures them on a private relay built from the same code, with
//! the same one-way delay (up to [`PROBE_DELAY_CAP`]) and no rate limit: 64-byte
//! ping-pongs between the calling thread and an echo thread, less the delay applied.
//!
//! It takes the median of each of [`BATCHES`] connections (each has threads of its own, so
//! its own placement on the cores) and keeps the lower quartile of those: below the middle
//! because other load on the machine only adds latency, and a burst of it during
//! calibration would otherwise shorten the link for the whole run; not the lowest, which
//! is a lucky draw the run will not see. For the same reason a figure above
//! [`PATH_RTT_CAP`] is not believed: the cap is used instead, with a warning.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::{LinkSpec, Relay, Shape};

/// The longest one-way delay the probe relay applies; a longer configured delay is probed
/// at this one, which keeps calibration within about 0.2 s. The path costs tens of
/// microseconds, well under 1 % of such delays.
const PROBE_DELAY_CAP: Duration = Duration::from_millis(1);
/// The most the path may be credited with: several times what it costs on an idle
/// machine, so only a machine too busy to emulate a link faithfully reaches it.
const PATH_RTT_CAP: Duration = Duration::from_micros(250);
/// Connections probed, one after another.
const BATCHES: usize = 5;
/// Ping-pongs per connection discarded before measuring (set-up, cold caches).
const WARM_UP: usize = 5;
/// Ping-pongs measured per connection.
const SAMPLES: usize = 15;
/// Size of a ping, like the small messages of an interactive protocol.
const PING_BYTES: usize = 64;
/// How long a step of the calibration may take before it is abandoned.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// The round-trip time the relay path adds by itself, on this machine at its current load,
/// for a link with the one-way delay of `spec`. Zero when `spec` has no delay, since a
/// delay cannot be made shorter than none.
pub(super) fn path_rtt(spec: &LinkSpec) -> io::Result<Duration> {
    let delay = spec.one_way_delay().min(PROBE_DELAY_CAP);
    if delay.is_zero() {
        return Ok(Duration::ZERO);
    }
    let upstream = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let probe = Relay::spawn(
        Shape {
            delay,
            spec: LinkSpec::unshaped(),
        },
        upstream.local_addr()?,
        Duration::ZERO,
    )?;
    // The far end echoes on a thread of its own, as a server would.
    let echo = thread::Builder::new()
        .name("relay-calibrate".into())
        .spawn(move || -> io::Result<()> {
            for _ in 0..BATCHES {
                echo(accept_within(&upstream, STEP_TIMEOUT)?)?;
            }
            Ok(())
        })?;
    let mut batches = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let mut client = TcpStream::connect(probe.addr())?;
        batches.push(median(ping(&mut client)?));
    }
    echo.join()
        .map_err(|_| io::Error::other("the calibration echo thread panicked"))??;
    drop(probe);
    batches.sort_unstable();
    let measured = batches[BATCHES / 4].saturating_sub(2 * delay);
    if measured > PATH_RTT_CAP {
        tracing::warn!(
            ?measured,
            cap = ?PATH_RTT_CAP,
            "the relay path measured slow (is the machine busy?); crediting it with the cap"
        );
    }
    let path = measured.min(PATH_RTT_CAP);
    tracing::debug!(?path, ?delay, "relay path calibrated");
    Ok(path)
}

/// Round-trip times of [`SAMPLES`] ping-pongs over `client`, after [`WARM_UP`] more.
fn ping(client: &mut TcpStream) -> io::Result<Vec<Duration>> {
    configure(client)?;
    let mut message = [0x17; PING_BYTES];
    let mut samples = Vec::with_capacity(SAMPLES);
    for round in 0..WARM_UP + SAMPLES {
        let start = Instant::now();
        client.write_all(&message)?;
        client.read_exact(&mut message)?;
        if round >= WARM_UP {
            samples.push(start.elapsed());
        }
    }
    Ok(samples)
}

/// Returns every ping of one [`ping`] run.
fn echo(mut server: TcpStream) -> io::Result<()> {
    configure(&server)?;
    let mut message = [0; PING_BYTES];
    for _ in 0..WARM_UP + SAMPLES {
        server.read_exact(&mut message)?;
        server.write_all(&message)?;
    }
    Ok(())
}

fn configure(socket: &TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(STEP_TIMEOUT))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Accepts one connection on `listener`, giving up after `timeout`.
fn accept_within(listener: &TcpListener, timeout: Duration) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the calibration relay did not connect",
                    ));
                }
                thread::sleep(Duration::from_micros(200));
            }
            Err(error) => return Err(error),
        }
    }
}
