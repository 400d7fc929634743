//! The duplex message channel the two parties talk over, and its traffic meter.
//!
//! A [`Channel`] carries whole messages (frames). Sends are buffered and pushed out by
//! [`Channel::flush`] or by the next [`Channel::recv`], so a protocol step that sends many
//! small messages costs one write. Two implementations:
//!
//! - [`TcpChannel`]: a `std::net::TcpStream` with `u32` little-endian length-prefixed frames.
//!   A frame longer than [`ChannelConfig::max_frame_len`] is an error before anything is
//!   allocated; a frame cut short by a disconnect is an error too.
//! - [`MemChannel`]: two in-memory endpoints over `std::sync::mpsc` ([`mem_pair`]), for tests.
//!
//! Both count traffic in a [`Meter`] the same way: every frame costs its payload plus the
//! 4-byte header, and a round is a switch from sending to receiving.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bytes of the length prefix in front of every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// Default largest frame a channel accepts or sends: 256 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 256 << 20;

/// Default size of the send buffer at which a channel writes it out without waiting for a
/// flush: 1 MiB.
pub const DEFAULT_FLUSH_THRESHOLD: usize = 1 << 20;

/// Errors of a [`Channel`].
#[derive(Debug, Error)]
pub enum ChannelError {
    /// The underlying stream failed.
    #[error("i/o error on the channel")]
    Io(#[source] io::Error),
    /// The peer closed the channel between frames.
    #[error("peer closed the channel")]
    Disconnected,
    /// The peer closed the channel in the middle of a frame.
    #[error("frame truncated: expected {expected} bytes, received {received}")]
    Truncated {
        /// Bytes the header (or the header itself) announced.
        expected: usize,
        /// Bytes that arrived before the stream ended.
        received: usize,
    },
    /// A frame is longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Length of the offending frame.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// No frame arrived within the read timeout, or a write did not complete in time.
    #[error("timed out waiting for the peer")]
    Timeout,
}

impl From<io::Error> for ChannelError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChannelError::Timeout,
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => ChannelError::Disconnected,
            _ => ChannelError::Io(err),
        }
    }
}

/// Traffic counted by one endpoint of a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// Bytes sent, headers included.
    pub bytes_sent: u64,
    /// Bytes received, headers included.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Switches from sending to receiving.
    pub rounds: u64,
}

impl Meter {
    /// The traffic counted between `earlier` (a snapshot of the same meter) and `self`.
    pub fn since(&self, earlier: &Meter) -> Meter {
        Meter {
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            messages_sent: self.messages_sent.saturating_sub(earlier.messages_sent),
            messages_received: self
                .messages_received
                .saturating_sub(earlier.messages_received),
            rounds: self.rounds.saturating_sub(earlier.rounds),
        }
    }
}

/// Counts traffic and detects rounds.
#[derive(Debug, Default)]
struct MeterState {
    meter: Meter,
    /// Whether the last operation was a send (so the next receive starts a round).
    sending: bool,
}

impl MeterState {
    fn on_send(&mut self, payload_len: usize) {
        self.meter.bytes_sent += (payload_len + FRAME_HEADER_LEN) as u64;
        self.meter.messages_sent += 1;
        self.sending = true;
    }

    fn on_recv(&mut self, payload_len: usize) {
        if self.sending {
            self.meter.rounds += 1;
            self.sending = false;
        }
        self.meter.bytes_received += (payload_len + FRAME_HEADER_LEN) as u64;
        self.meter.messages_received += 1;
    }
}

/// Settings of a channel endpoint.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Largest frame accepted from the peer or sent to it.
    pub max_frame_len: usize,
    /// How long a receive waits for the peer; `None` waits forever.
    pub read_timeout: Option<Duration>,
    /// How long a write may block (TCP only); `None` waits forever.
    pub write_timeout: Option<Duration>,
    /// Buffered bytes at which a send writes the buffer out without waiting for a flush
    /// (TCP only; the in-memory channel hands messages over at flush or receive).
    pub flush_threshold: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            read_timeout: None,
            write_timeout: None,
            flush_threshold: DEFAULT_FLUSH_THRESHOLD,
        }
    }
}

impl ChannelConfig {
    fn check_len(&self, len: usize) -> Result<(), ChannelError> {
        if len > self.max_frame_len || len > u32::MAX as usize {
            return Err(ChannelError::FrameTooLarge {
                len,
                max: self.max_frame_len.min(u32::MAX as usize),
            });
        }
        Ok(())
    }
}

/// A duplex, message-oriented channel between the two parties.
///
/// After any error the channel may be out of step with the peer (a frame half read or half
/// written); the protocol run should be abandoned.
pub trait Channel {
    /// Queues one message; it goes out at the next flush or receive (or earlier, when the
    /// buffer is large).
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError>;
    /// Flushes pending messages, then waits for the next message from the peer.
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError>;
    /// Pushes all pending messages to the peer.
    fn flush(&mut self) -> Result<(), ChannelError>;
    /// A snapshot of the traffic counted so far.
    fn meter(&self) -> Meter;
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        (**self).send(msg)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv()
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn meter(&self) -> Meter {
        (**self).meter()
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        (**self).send(msg)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv()
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn meter(&self) -> Meter {
        (**self).meter()
    }
}

/// A [`Channel`] over a TCP stream with `u32` length-prefixed frames.
#[derive(Debug)]
pub struct TcpChannel {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    out: Vec<u8>,
    config: ChannelConfig,
    meter: MeterState,
}

impl TcpChannel {
    /// Wraps a connected stream: disables Nagle's algorithm and applies the timeouts.
    pub fn new(stream: TcpStream, config: ChannelConfig) -> Result<Self, ChannelError> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(config.read_timeout)?;
        stream.set_write_timeout(config.write_timeout)?;
        let reader = BufReader::with_capacity(1 << 16, stream.try_clone()?);
        Ok(TcpChannel {
            reader,
            writer: stream,
            out: Vec::new(),
            config,
            meter: MeterState::default(),
        })
    }

    /// Connects to a listening peer.
    pub fn connect(addr: impl ToSocketAddrs, config: ChannelConfig) -> Result<Self, ChannelError> {
        TcpChannel::new(TcpStream::connect(addr)?, config)
    }

    /// Connects to a peer that may not be listening yet, retrying every 50 ms until
    /// `patience` has passed (the client and server processes start independently).
    pub fn connect_with_retry(
        addr: impl ToSocketAddrs + Clone,
        config: ChannelConfig,
        patience: Duration,
    ) -> Result<Self, ChannelError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            match TcpStream::connect(addr.clone()) {
                Ok(stream) => return TcpChannel::new(stream, config),
                Err(err) if std::time::Instant::now() >= deadline => return Err(err.into()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Accepts one peer on a listener.
    pub fn accept(listener: &TcpListener, config: ChannelConfig) -> Result<Self, ChannelError> {
        let (stream, _) = listener.accept()?;
        TcpChannel::new(stream, config)
    }

    /// Two endpoints joined over the loopback interface (listener side first).
    pub fn loopback_pair(config: ChannelConfig) -> Result<(Self, Self), ChannelError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((
            TcpChannel::new(server, config.clone())?,
            TcpChannel::new(client, config)?,
        ))
    }

    /// Reads until `buf` is full; returns how many bytes arrived before end of stream.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(filled)
    }
}

impl Channel for TcpChannel {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        self.config.check_len(msg.len())?;
        let header = (msg.len() as u32).to_le_bytes();
        if msg.len() >= self.config.flush_threshold {
            // Large payloads skip the buffer instead of being copied into it.
            self.flush()?;
            self.writer.write_all(&header)?;
            self.writer.write_all(msg)?;
        } else {
            self.out.extend_from_slice(&header);
            self.out.extend_from_slice(msg);
            if self.out.len() >= self.config.flush_threshold {
                self.flush()?;
            }
        }
        self.meter.on_send(msg.len());
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.flush()?;
        let mut header = [0u8; FRAME_HEADER_LEN];
        match self.read_full(&mut header)? {
            0 => return Err(ChannelError::Disconnected),
            FRAME_HEADER_LEN => {}
            received => {
                return Err(ChannelError::Truncated {
                    expected: FRAME_HEADER_LEN,
                    received,
                })
            }
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > self.config.max_frame_len {
            return Err(ChannelError::FrameTooLarge {
                len,
                max: self.config.max_frame_len,
            });
        }
        // Grow while reading, so a peer that announces a large frame and then hangs up does
        // not cost the whole allocation.
        let mut body = Vec::with_capacity(len.min(1 << 20));
        let received = (&mut self.reader).take(len as u64).read_to_end(&mut body)?;
        if received < len {
            return Err(ChannelError::Truncated {
                expected: len,
                received,
            });
        }
        self.meter.on_recv(len);
        Ok(body)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out)?;
            self.out.clear();
        }
        self.writer.flush()?;
        Ok(())
    }

    fn meter(&self) -> Meter {
        self.meter.meter
    }
}

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

    fn small_config() -> ChannelConfig {
        ChannelConfig {
            max_frame_len: 1024,
            read_timeout: Some(Duration::from_secs(10)),
            write_timeout: Some(Duration::from_secs(10)),
            flush_threshold: 64,
        }
    }

    /// Sends three messages one way and one back; checks payloads, bytes, messages, rounds.
    fn exercise(a: &mut dyn Channel, b: &mut dyn Channel) {
        a.send(b"hello").unwrap();
        a.send(&[7u8; 100]).unwrap();
        a.send(b"").unwrap();
        a.flush().unwrap();
        assert_eq!(b.recv().unwrap(), b"hello");
        assert_eq!(b.recv().unwrap(), vec![7u8; 100]);
        assert_eq!(b.recv().unwrap(), b"");
        b.send(b"ack").unwrap();
        b.flush().unwrap();
        assert_eq!(a.recv().unwrap(), b"ack");

        let ma = a.meter();
        assert_eq!(ma.bytes_sent, 5 + 100 + 3 * 4);
        assert_eq!(ma.messages_sent, 3);
        assert_eq!(ma.bytes_received, 3 + 4);
        assert_eq!(ma.messages_received, 1);
        assert_eq!(ma.rounds, 1);
        let mb = b.meter();
        assert_eq!(mb.bytes_received, ma.bytes_sent);
        assert_eq!(mb.messages_received, 3);
        // b received first: that is not a switch from sending to receiving.
        assert_eq!(mb.rounds, 0);

        // Ping-pong: each exchange is one more round for the side that sent first.
        for i in 0..5u8 {
            a.send(&[i]).unwrap();
            a.flush().unwrap();
            assert_eq!(b.recv().unwrap(), [i]);
            b.send(&[i]).unwrap();
            b.flush().unwrap();
            assert_eq!(a.recv().unwrap(), [i]);
        }
        assert_eq!(a.meter().since(&ma).rounds, 5);
        assert_eq!(b.meter().since(&mb).rounds, 5);
    }

    #[test]
    fn mem_pair_delivers_and_meters() {
        let (mut a, mut b) = mem_pair_with(small_config());
        exercise(&mut a, &mut b);
    }

    #[test]
    fn tcp_pair_delivers_and_meters() {
        let (mut a, mut b) = TcpChannel::loopback_pair(small_config()).unwrap();
        exercise(&mut a, &mut b);
    }

    #[test]
    fn tcp_large_messages_cross_both_ways() {
        let (mut a, mut b) = TcpChannel::loopback_pair(ChannelConfig::default()).unwrap();
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = big.clone();
        let peer = std::thread::spawn(move || {
            let got = b.recv().unwrap();
            b.send(&got).unwrap();
            b.flush().unwrap();
        });
        a.send(&sent).unwrap();
        assert_eq!(a.recv().unwrap(), big);
        peer.join().unwrap();
    }

    #[test]
    fn connect_with_retry_waits_for_the_listener() {
        // Find a free port, release it, and start listening on it a little later.
        let port = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            let mut ch = TcpChannel::accept(&listener, small_config()).unwrap();
            assert_eq!(ch.recv().unwrap(), b"hi");
        });
        let mut ch = TcpChannel::connect_with_retry(
            ("127.0.0.1", port),
            small_config(),
            Duration::from_secs(10),
        )
        .unwrap();
        ch.send(b"hi").unwrap();
        ch.flush().unwrap();
        server.join().unwrap();
        // Nobody listening and no patience: an error, not a hang.
        let free = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(TcpChannel::connect_with_retry(free, small_config(), Duration::ZERO).is_err());
    }

    #[test]
    fn oversized_send_is_refused() {
        let (mut a, _b) = mem_pair_with(small_config());
        assert!(matches!(
            a.send(&[0u8; 1025]),
            Err(ChannelError::FrameTooLarge { len: 1025, .. })
        ));
    }

    #[test]
    fn oversized_length_from_peer_is_an_error() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut ch = TcpChannel::accept(&listener, small_config()).unwrap();
        raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
        match ch.recv() {
            Err(ChannelError::FrameTooLarge { len, max }) => {
                assert_eq!(len, u32::MAX as usize);
                assert_eq!(max, 1024);
            }
            other => panic!("expected frame-too-large, got {other:?}"),
        }
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut ch = TcpChannel::accept(&listener, small_config()).unwrap();
        raw.write_all(&100u32.to_le_bytes()).unwrap();
        raw.write_all(&[1u8; 10]).unwrap();
        drop(raw);
        match ch.recv() {
            Err(ChannelError::Truncated { expected, received }) => {
                assert_eq!((expected, received), (100, 10));
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn truncated_header_is_an_error() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut ch = TcpChannel::accept(&listener, small_config()).unwrap();
        raw.write_all(&[5u8, 0]).unwrap();
        drop(raw);
        assert!(matches!(
            ch.recv(),
            Err(ChannelError::Truncated {
                expected: 4,
                received: 2
            })
        ));
    }

    #[test]
    fn peer_drop_is_an_error() {
        let (mut a, b) = TcpChannel::loopback_pair(small_config()).unwrap();
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Disconnected)));

        let (mut a, b) = mem_pair_with(small_config());
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Disconnected)));
        a.send(b"x").unwrap();
        assert!(matches!(a.flush(), Err(ChannelError::Disconnected)));
    }

    #[test]
    fn read_timeout_is_an_error() {
        let config = ChannelConfig {
            read_timeout: Some(Duration::from_millis(50)),
            ..small_config()
        };
        let (mut a, _b) = TcpChannel::loopback_pair(config.clone()).unwrap();
        assert!(matches!(a.recv(), Err(ChannelError::Timeout)));
        let (mut a, _b) = mem_pair_with(config);
        assert!(matches!(a.recv(), Err(ChannelError::Timeout)));
    }
}
