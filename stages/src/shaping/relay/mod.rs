//! The `relay` shaping backend: a user-space link emulator between client and server.
//!
//! For machines without `netem` or without root. The relay listens on loopback; each
//! connection it accepts is joined to a fresh connection to the upstream server, and each
//! direction is shaped on its own pair of threads:
//!
//! - a reader takes chunks (up to 64 KiB) off the source socket, stamps each with the time it
//!   was read and queues it, so that a whole bandwidth-delay product can be in flight;
//! - a writer models the link: a chunk starts to cross when it has arrived and the link is
//!   free, takes `len · 8 / rate` to cross (the pacer's virtual clock), and is delivered one
//!   one-way delay (`rtt / 2`) later. Order is preserved.
//!
//! The configured RTT is the end-to-end RTT the two parties measure, as with `netem`, whose
//! setups are judged by what the endpoints see. The relay path costs something by itself
//! (two loopback crossings and a thread wake-up at each hop, each way: a few tens of
//! microseconds, several per cent of a 0.5 ms RTT), so [`Relay::start`] measures that cost
//! on a private relay built from the same code (see `calibrate.rs`) and takes half of it
//! off each direction's delay, never below zero. The figure is kept in
//! [`RelayStats::path_rtt`] so a run can record it.
//!
//! Sleeps are precise to a few microseconds: the writer sleeps until shortly before a
//! deadline and spins for the last stretch. Loss is not emulated: a TCP relay sees a byte
//! stream and cannot drop packets, so [`Relay::start`] rejects a spec that asks for loss.
//! End of stream (half-close) propagates per direction.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::link::LinkSpec;

mod calibrate;

/// Largest chunk read (and paced) at once.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks a direction may hold in flight (64 MiB at most): ample for 7 Gbit/s × 10 ms.
const QUEUE_CHUNKS: usize = 1024;
/// Sleeps stop this long before a deadline; the rest is spun.
const SPIN_MARGIN: Duration = Duration::from_micros(200);
/// Longest single sleep, so a stop request is noticed promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(10);
/// How often the acceptor looks for new connections and stop requests.
const ACCEPT_POLL: Duration = Duration::from_millis(1);

/// What the relay has delivered so far, for the record of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Connections accepted and joined to the upstream server.
    pub connections: u64,
    /// Bytes delivered from clients to the server.
    pub client_to_server_bytes: u64,
    /// Bytes delivered from the server to clients.
    pub server_to_client_bytes: u64,
    /// The round-trip time the relay path adds by itself, measured when the relay started
    /// and taken off the configured delay (see the module comment). Zero when no delay is
    /// configured.
    pub path_rtt: Duration,
}

/// A running relay. Stopping it (or dropping it) closes the listener and every connection
/// and joins all of its threads.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    path_rtt: Duration,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    connections: AtomicU64,
    client_to_server: AtomicU64,
    server_to_client: AtomicU64,
    open: Mutex<Vec<Connection>>,
}

/// The sockets of one relayed connection (kept to shut them down) and its threads.
#[derive(Debug)]
struct Connection {
    sockets: [TcpStream; 2],
    threads: Vec<JoinHandle<()>>,
}

/// How one direction is shaped.
#[derive(Debug, Clone, Copy)]
struct Shape {
    delay: Duration,
    spec: LinkSpec,
}

impl Relay {
    /// Starts a relay on `127.0.0.1` (an ephemeral port) that forwards every connection to
    /// `upstream`, shaped as `spec` says in each direction.
    ///
    /// Fails with `Unsupported` if `spec` asks for loss (see the module comment) and with
    /// `InvalidInput` for a bandwidth of zero.
    pub fn start(spec: &LinkSpec, upstream: SocketAddr) -> io::Result<Relay> {
        Self::check(spec)?;
        let path_rtt = Self::calibrate(spec)?;
        Self::start_calibrated(spec, upstream, path_rtt)
    }

    /// The round-trip time the relay path adds by itself for a link like `spec`, measured
    /// now (see `calibrate.rs`); [`Relay::start`] measures it every time, callers that
    /// start many relays for the same link may measure once and use
    /// [`Relay::start_calibrated`].
    pub fn calibrate(spec: &LinkSpec) -> io::Result<Duration> {
        calibrate::path_rtt(spec)
    }

    /// [`Relay::start`] with a path round-trip time measured earlier by
    /// [`Relay::calibrate`] for the same link.
    pub fn start_calibrated(
        spec: &LinkSpec,
        upstream: SocketAddr,
        path_rtt: Duration,
    ) -> io::Result<Relay> {
        Self::check(spec)?;
        let shape = Shape {
            delay: spec.one_way_delay().saturating_sub(path_rtt / 2),
            spec: *spec,
        };
        let relay = Relay::spawn(shape, upstream, path_rtt)?;
        tracing::debug!(addr = %relay.addr, %upstream, ?spec, ?path_rtt, "relay started");
        Ok(relay)
    }

    /// Refuses what the relay cannot emulate.
    fn check(spec: &LinkSpec) -> io::Result<()> {
        if spec.has_loss() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the relay backend cannot emulate packet loss; use the tc backend",
            ));
        }
        if spec.bandwidth_bps == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "link bandwidth must be above zero",
            ));
        }
        Ok(())
    }

    /// Starts a relay that applies `shape` as given, with no calibration.
    fn spawn(shape: Shape, upstream: SocketAddr, path_rtt: Duration) -> io::Result<Relay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || accept_loop(&listener, upstream, shape, &shared))?
        };
        Ok(Relay {
            addr,
            path_rtt,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The round-trip time the relay path adds by itself, measured at start and taken off
    /// the configured delay (zero when no delay is configured).
    pub fn path_rtt(&self) -> Duration {
        self.path_rtt
    }

    /// What the relay has delivered so far.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            connections: self.shared.connections.load(Ordering::Relaxed),
            client_to_server_bytes: self.shared.client_to_server.load(Ordering::Relaxed),
            server_to_client_bytes: self.shared.server_to_client.load(Ordering::Relaxed),
            path_rtt: self.path_rtt,
        }
    }

    /// Stops the relay, closing every connection, and returns what it delivered.
    pub fn stop(mut self) -> RelayStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Once the acceptor is joined no connection can be added.
        let _ = acceptor.join();
        let open = std::mem::take(&mut *lock(&self.shared.open));
        for connection in &open {
            for socket in &connection.sockets {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        for connection in open {
            for thread in connection.threads {
                let _ = thread.join();
            }
        }
        tracing::debug!(addr = %self.addr, stats = ?self.stats(), "relay stopped");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shape: Shape, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, peer)) => {
                if let Err(error) = join(client, upstream, shape, shared) {
                    tracing::warn!(%peer, %upstream, %error, "relay could not join a connection");
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(ACCEPT_POLL);
            }
            Err(error) => {
                tracing::warn!(%error, "relay accept failed");
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Joins an accepted client to a new connection to `upstream` and starts both directions.
fn join(
    client: TcpStream,
    upstream: SocketAddr,
    shape: Shape,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect(upstream)?;
    for socket in [&client, &server] {
        socket.set_nodelay(true)?;
    }
    let mut threads = Vec::with_capacity(4);
    threads.extend(direction(&client, &server, shape, shared, Toward::Server)?);
    threads.extend(direction(&server, &client, shape, shared, Toward::Client)?);
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let mut open = lock(&shared.open);
    open.retain(|connection| !connection.threads.iter().all(JoinHandle::is_finished));
    open.push(Connection {
        sockets: [client, server],
        threads,
    });
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Toward {
    Server,
    Client,
}

/// A chunk read from the source and the time it was read.
type Chunk = (Instant, Vec<u8>);

/// Starts the reader and the writer of one direction, `from` → `to`.
fn direction(
    from: &TcpStream,
    to: &TcpStream,
    shape: Shape,
    shared: &Arc<Shared>,
    toward: Toward,
) -> io::Result<[JoinHandle<()>; 2]> {
    let (sender, receiver) = mpsc::sync_channel(QUEUE_CHUNKS);
    let source = from.try_clone()?;
    let reader = thread::Builder::new()
        .name("relay-read".into())
        .spawn(move || read_chunks(source, &sender))?;
    let source = from.try_clone()?;
    let sink = to.try_clone()?;
    let shared = Arc::clone(shared);
    let writer = thread::Builder::new()
        .name("relay-write".into())
        .spawn(move || {
            let delivered = match toward {
                Toward::Server => &shared.client_to_server,
                Toward::Client => &shared.server_to_client,
            };
            write_chunks(&receiver, sink, &source, shape, &shared.stop, delivered);
        })?;
    Ok([reader, writer])
}

/// Reads chunks until end of stream (or an error, or the writer is gone) and queues them.
fn read_chunks(mut source: TcpStream, queue: &SyncSender<Chunk>) {
    loop {
        let mut buffer = vec![0; CHUNK_BYTES];
        let read = match source.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let now = Instant::now();
        buffer.truncate(read);
        if queue.send((now, buffer)).is_err() {
            return;
        }
    }
}

/// Delivers queued chunks on the link's schedule; at the end of the queue, half-closes the
/// sink so the end of stream reaches the other side.
fn write_chunks(
    queue: &Receiver<Chunk>,
    mut sink: TcpStream,
    source: &TcpStream,
    shape: Shape,
    stop: &AtomicBool,
    delivered: &AtomicU64,
) {
    // The instant the link finishes sending what it has been given (the pacer's clock).
    let mut link_free: Option<Instant> = None;
    loop {
        let Some((arrived, bytes)) = queue.recv().ok() else {
            let _ = sink.shutdown(Shutdown::Write);
            return;
        };
        let departed = match shape.spec.transmit_time(bytes.len()) {
            Some(transmit) => {
                let start = link_free.map_or(arrived, |free| free.max(arrived));
                let departed = start + transmit;
                link_free = Some(departed);
                departed
            }
            None => arrived,
        };
        if !sleep_until(departed + shape.delay, stop) || sink.write_all(&bytes).is_err() {
            // Stopped, or the sink is gone: wake the reader so it ends too.
            let _ = source.shutdown(Shutdown::Read);
            return;
        }
        delivered.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
}

/// Sleeps until `deadline`: a coarse sleep to within [`SPIN_MARGIN`], then a spin. Returns
/// false if `stop` was raised first.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let remaining = deadline - now;
        if remaining > SPIN_MARGIN {
            thread::sleep((remaining - SPIN_MARGIN).min(SLEEP_SLICE));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests;
