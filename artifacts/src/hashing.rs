//! [`HashingWriter`]: a writer that hashes what passes through it, so a file is digested
//! while it is written instead of being read a second time.

use std::io::{self, Write};

use crate::digest::Digest;

/// A writer that hashes and counts every byte written to the inner writer.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the digest and the byte count of everything written.
    pub(crate) fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finalize().into(), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_digest_of() {
        let data = b"some table bytes".repeat(1000);
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let (out, digest, bytes) = writer.finish();
        assert_eq!(out, data);
        assert_eq!(digest, Digest::of(&data));
        assert_eq!(bytes, data.len() as u64);
    }
}
