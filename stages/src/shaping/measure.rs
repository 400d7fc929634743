//! Measuring a shaped link as its endpoints see it: the median round trip of small
//! ping-pongs and the rate a sink receives, through the relay or between tc namespaces.
//! The relay's and tc's functional tests use these with one-sided bounds (shaping can only
//! slow a link down); the fidelity benchmark (`pipeline/benches/shaping_fidelity.rs`)
//! compares them with the configured link and reports the error.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::relay::{Relay, RelayStats};
use super::tc::TcLink;
use super::LinkSpec;

/// Ping-pongs before the ones that count.
const WARM_UP_ROUNDS: usize = 5;
/// Size of one ping.
pub const PING_BYTES: usize = 64;

/// The median of `values` (the upper one of an even count); NaN when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Serves one connection on a fresh loopback listener with `serve`; returns its address.
pub fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> io::Result<T> + Send + 'static,
) -> io::Result<(SocketAddr, JoinHandle<io::Result<T>>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        serve(stream)
    });
    Ok((addr, handle))
}

/// Echoes everything it reads until the peer closes.
pub fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buffer = [0; PING_BYTES];
    loop {
        match stream.read(&mut buffer)? {
            0 => return Ok(()),
            read => stream.write_all(&buffer[..read])?,
        }
    }
}

fn joined<T>(handle: JoinHandle<io::Result<T>>) -> io::Result<T> {
    handle
        .join()
        .map_err(|_| io::Error::other("the measuring server thread panicked"))?
}

/// Median round-trip time of `rounds` ping-pongs of [`PING_BYTES`] to an echo at `addr`,
/// after [`WARM_UP_ROUNDS`] that do not count.
pub fn ping_median(addr: SocketAddr, rounds: usize) -> io::Result<Duration> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let ping = [7u8; PING_BYTES];
    let mut pong = [0u8; PING_BYTES];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + WARM_UP_ROUNDS {
        let start = Instant::now();
        stream.write_all(&ping)?;
        stream.read_exact(&mut pong)?;
        if round >= WARM_UP_ROUNDS {
            samples.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(Duration::from_secs_f64(median(samples)))
}

/// Bytes of ping-pong each way for `rounds` counted rounds (warm-up included).
pub fn ping_bytes(rounds: usize) -> u64 {
    (PING_BYTES * (rounds + WARM_UP_ROUNDS)) as u64
}

/// Median RTT through a fresh relay shaped as `link` to an echo server, and the relay's
/// counters.
pub fn relay_ping(link: &LinkSpec, rounds: usize) -> io::Result<(Duration, RelayStats)> {
    let (upstream, served) = serve_one(echo)?;
    let relay = Relay::start(link, upstream)?;
    let rtt = ping_median(relay.addr(), rounds)?;
    let stats = relay.stop();
    joined(served)?;
    Ok((rtt, stats))
}

/// Median RTT of plain loopback, for the record beside relayed readings.
pub fn bare_ping(rounds: usize) -> io::Result<Duration> {
    let (upstream, served) = serve_one(echo)?;
    let rtt = ping_median(upstream, rounds)?;
    joined(served)?;
    Ok(rtt)
}

/// Sends `bytes` through a fresh relay shaped as `link` to a sink; returns the rate in
/// bit/s the sink sees, from its first read to its last (neither the connection's set-up
/// nor the one-way delay is a matter of rate), after checking that every byte arrived and
/// that the relay counted them.
pub fn relay_rate(link: &LinkSpec, bytes: usize) -> io::Result<f64> {
    let (upstream, sunk) = serve_one(|mut stream| {
        let mut buffer = vec![0; 1 << 16];
        let mut total = 0;
        let mut first = None;
        let mut last = Instant::now();
        loop {
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            last = Instant::now();
            first.get_or_insert((last, read));
            total += read;
        }
        stream.write_all(&(total as u64).to_le_bytes())?;
        let (first, first_read) = first.ok_or_else(|| io::Error::other("nothing arrived"))?;
        Ok(((total - first_read) as f64 * 8.0) / (last - first).as_secs_f64())
    })?;
    let relay = Relay::start(link, upstream)?;
    let mut stream = TcpStream::connect(relay.addr())?;
    let block = vec![0x5a; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let len = left.min(block.len());
        stream.write_all(&block[..len])?;
        left -= len;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut total = [0; 8];
    stream.read_exact(&mut total)?;
    let rate = joined(sunk)?;
    let stats = relay.stop();
    let arrived = u64::from_le_bytes(total);
    if arrived != bytes as u64 || stats.client_to_server_bytes != bytes as u64 {
        return Err(io::Error::other(format!(
            "sent {bytes} bytes; the sink got {arrived}, the relay counted {}",
            stats.client_to_server_bytes
        )));
    }
    Ok(rate)
}

/// Sends `bytes` over TCP from the client namespace of `link` to its server namespace
/// (with `python3` on both ends, the one program both namespaces surely have) and returns
/// the receiver's rate in bit/s, from its first read to its last.
pub fn tc_rate(link: &TcLink, bytes: usize) -> io::Result<f64> {
    const PORT: u16 = 47_313;
    let receiver = format!(
        "import socket,time,sys\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{addr}',{PORT})); s.listen(1); print('ready', flush=True)\n\
         c,_=s.accept(); n=0; t0=None\n\
         while True:\n\
         \x20   b=c.recv(1<<16)\n\
         \x20   if not b: break\n\
         \x20   if t0 is None: t0=time.monotonic()\n\
         \x20   n+=len(b)\n\
         print(n, time.monotonic()-t0, flush=True)\n",
        addr = link.server_addr()
    );
    let sender = format!(
        "import socket\n\
         s=socket.create_connection(('{addr}',{PORT}))\n\
         b=bytes(1<<16); left={bytes}\n\
         while left>0:\n\
         \x20   k=min(left,len(b)); s.sendall(b[:k]); left-=k\n\
         s.close()\n",
        addr = link.server_addr()
    );
    let mut server = link
        .server_command("python3")
        .args(["-c", &receiver])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = server
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout from the receiver"))?;
    let mut ready = [0u8; 6];
    out.read_exact(&mut ready)?;
    let status = link
        .client_command("python3")
        .args(["-c", &sender])
        .status()?;
    if !status.success() {
        let _ = server.kill();
        return Err(io::Error::other(format!("the sender failed: {status}")));
    }
    let mut report = String::new();
    out.read_to_string(&mut report)?;
    let receiver_status = server.wait()?;
    let mut fields = report.split_whitespace();
    let parsed = (
        fields.next().and_then(|f| f.parse::<f64>().ok()),
        fields.next().and_then(|f| f.parse::<f64>().ok()),
    );
    match parsed {
        (Some(received), Some(seconds)) if receiver_status.success() => {
            if received as usize != bytes {
                return Err(io::Error::other(format!(
                    "sent {bytes} bytes, {received} arrived"
                )));
            }
            Ok(received * 8.0 / seconds)
        }
        _ => Err(io::Error::other(format!(
            "the receiver ({receiver_status}) reported `{}`",
            report.trim()
        ))),
    }
}
