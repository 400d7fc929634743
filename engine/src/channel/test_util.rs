//! Helpers shared by the channel tests: a small configuration and a traffic exercise that
//! both implementations must pass.

use std::time::Duration;

use super::{Channel, ChannelConfig};

/// A 1 KiB frame limit, 10 s timeouts and a 64-byte flush threshold.
pub(super) fn small_config() -> ChannelConfig {
    ChannelConfig {
        max_frame_len: 1024,
        read_timeout: Some(Duration::from_secs(10)),
        write_timeout: Some(Duration::from_secs(10)),
        flush_threshold: 64,
    }
}

/// Sends three messages one way and one back; checks payloads, bytes, messages, rounds.
pub(super) fn exercise(a: &mut dyn Channel, b: &mut dyn Channel) {
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
