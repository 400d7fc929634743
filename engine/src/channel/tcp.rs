//! [`TcpChannel`]: a [`Channel`] over a `std::net::TcpStream` with `u32` little-endian
//! length-prefixed frames, the transport of real two-process runs.
//!
//! The configured timeouts are deadlines for a whole message: before every read or write
//! system call the socket's timeout is set to what is left of the message's deadline, so a
//! peer that trickles bytes cannot stretch one message past it.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Bytes read per system call while receiving a frame body.
const READ_CHUNK: usize = 1 << 16;

/// The instant `timeout` from now, if there is a timeout.
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// What is left until `deadline` (an error once it has passed); `None` without deadline.
fn remaining(deadline: Option<Instant>) -> Result<Option<Duration>, ChannelError> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(ChannelError::Timeout)
            } else {
                Ok(Some(left))
            }
        }
    }
}

use super::meter::MeterState;
use super::{Channel, ChannelConfig, ChannelError, Meter, FRAME_HEADER_LEN};

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

    /// Connects to a peer that may not be listening yet, retrying every 2 ms until
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
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
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

    /// One read into `buf` before `deadline`; 0 at end of stream.
    fn read_some(&mut self, buf: &mut [u8], by: Option<Instant>) -> Result<usize, ChannelError> {
        loop {
            if self.reader.buffer().is_empty() {
                self.reader.get_ref().set_read_timeout(remaining(by)?)?;
            }
            match self.reader.read(buf) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Reads until `buf` is full or the stream ends, before `deadline`; returns how many
    /// bytes arrived.
    fn read_full(&mut self, buf: &mut [u8], by: Option<Instant>) -> Result<usize, ChannelError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read_some(&mut buf[filled..], by)? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    }

    /// Writes all of `bytes` before `deadline`.
    fn write_all_by(&mut self, bytes: &[u8], by: Option<Instant>) -> Result<(), ChannelError> {
        let mut done = 0;
        while done < bytes.len() {
            self.writer.set_write_timeout(remaining(by)?)?;
            match self.writer.write(&bytes[done..]) {
                Ok(0) => return Err(ChannelError::Disconnected),
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

impl Channel for TcpChannel {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        self.config.check_len(msg.len())?;
        let header = (msg.len() as u32).to_le_bytes();
        if msg.len() >= self.config.flush_threshold {
            // Large payloads skip the buffer instead of being copied into it.
            self.flush()?;
            let by = deadline(self.config.write_timeout);
            self.write_all_by(&header, by)?;
            self.write_all_by(msg, by)?;
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
        self.recv_limited(self.config.max_frame_len)
    }

    fn recv_limited(&mut self, max_len: usize) -> Result<Vec<u8>, ChannelError> {
        self.flush()?;
        let by = deadline(self.config.read_timeout);
        let mut header = [0u8; FRAME_HEADER_LEN];
        match self.read_full(&mut header, by)? {
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
        let max = max_len.min(self.config.max_frame_len);
        if len > max {
            return Err(ChannelError::FrameTooLarge { len, max });
        }
        // Grow while reading, so a peer that announces a large frame and then hangs up does
        // not cost the whole allocation.
        let mut body = Vec::with_capacity(len.min(1 << 20));
        while body.len() < len {
            let start = body.len();
            body.resize(start + (len - start).min(READ_CHUNK), 0);
            let got = self.read_some(&mut body[start..], by)?;
            body.truncate(start + got);
            if got == 0 {
                return Err(ChannelError::Truncated {
                    expected: len,
                    received: start,
                });
            }
        }
        self.meter.on_recv(len);
        Ok(body)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let written = self.write_all_by(&out, deadline(self.config.write_timeout));
            self.out = out;
            self.out.clear();
            written?;
        }
        self.writer.flush()?;
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

    /// The read timeout is a deadline for the whole message: a peer trickling a frame byte
    /// by byte (each byte well within the timeout) fails it, where a per-read timeout would
    /// have waited for the whole frame.
    #[test]
    fn trickled_frames_hit_the_message_deadline() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let config = ChannelConfig {
            read_timeout: Some(Duration::from_millis(600)),
            ..small_config()
        };
        let mut ch = TcpChannel::accept(&listener, config).unwrap();
        let trickler = std::thread::spawn(move || {
            // 200 bytes, one every 50 ms: 10 s in all, never 600 ms without a byte.
            let mut frame = 200u32.to_le_bytes().to_vec();
            frame.extend([7u8; 200]);
            for byte in frame {
                std::thread::sleep(Duration::from_millis(50));
                if raw.write_all(&[byte]).is_err() {
                    return;
                }
            }
        });
        assert!(matches!(ch.recv(), Err(ChannelError::Timeout)));
        drop(ch);
        trickler.join().unwrap();
    }

    /// A limited receive refuses a longer frame from its header, before reading its body.
    #[test]
    fn limited_receive_checks_the_header() {
        let (mut a, mut b) = TcpChannel::loopback_pair(small_config()).unwrap();
        a.send(&[1u8; 100]).unwrap();
        a.send(&[2u8; 10]).unwrap();
        a.flush().unwrap();
        match b.recv_limited(50) {
            Err(ChannelError::FrameTooLarge { len, max }) => assert_eq!((len, max), (100, 50)),
            other => panic!("expected frame-too-large, got {other:?}"),
        }
        let (mut a, mut b) = TcpChannel::loopback_pair(small_config()).unwrap();
        a.send(&[2u8; 10]).unwrap();
        a.flush().unwrap();
        assert_eq!(b.recv_limited(10).unwrap(), vec![2u8; 10]);
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
}
