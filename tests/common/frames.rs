//! A stream verifier: sequence-numbered, checksummed frames that show loss, duplication,
//! reordering and bleed from another connection in a byte stream.
//!
//! A frame is a 24-byte header — magic, connection id, sequence number, payload length, checksum
//! of the payload (all little-endian) — then the payload. [`encode`] builds one; a
//! [`FrameReader`] takes the bytes of a stream as they come, in pieces of any size, and checks
//! every complete frame.

use super::rng::checksum;

const MAGIC: u32 = 0xC0A1_F00D;
/// Header bytes before each payload.
pub const HEADER: usize = 24;
/// Longest payload a reader accepts (a longer length field means the stream is corrupt).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Frame `seq` of connection `conn` carrying `payload`.
pub fn encode(conn: u32, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&MAGIC.to_le_bytes());
    frame.extend_from_slice(&conn.to_le_bytes());
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&checksum(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// What is wrong with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrupt {
    /// The header does not start with the magic number: the stream lost its framing.
    BadMagic,
    /// A frame of another connection.
    WrongConnection { expected: u32, found: u32 },
    /// A frame out of order (lost, duplicated or reordered frames).
    WrongSequence { expected: u32, found: u32 },
    /// A length no sender writes.
    BadLength(u32),
    /// The payload is not what was checksummed.
    BadChecksum { seq: u32 },
}

/// Checks the frames of one stream in order (see the module docs).
#[derive(Debug, Default)]
pub struct FrameReader {
    pending: Vec<u8>,
    conn: Option<u32>,
    next_seq: u32,
    verified: u64,
}

impl FrameReader {
    /// A reader for connection `conn`'s frames.
    pub fn for_connection(conn: u32) -> FrameReader {
        FrameReader {
            conn: Some(conn),
            ..FrameReader::default()
        }
    }

    /// A reader that takes the connection id from the first frame and then holds every frame to
    /// it (the server side, which does not know the id in advance).
    pub fn learning() -> FrameReader {
        FrameReader::default()
    }

    /// Takes the next bytes of the stream; returns how many frames they completed (all
    /// verified), or what was wrong with the first bad one.
    pub fn push(&mut self, bytes: &[u8]) -> Result<u64, Corrupt> {
        self.pending.extend_from_slice(bytes);
        let mut done = 0;
        let mut at = 0;
        let result = loop {
            let rest = &self.pending[at..];
            if rest.len() < HEADER {
                break Ok(done);
            }
            let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().unwrap());
            let (magic, conn, seq, len) = (word(0), word(4), word(8), word(12));
            let sum = u64::from_le_bytes(rest[16..24].try_into().unwrap());
            if magic != MAGIC {
                break Err(Corrupt::BadMagic);
            }
            match self.conn {
                Some(expected) if expected != conn => {
                    break Err(Corrupt::WrongConnection {
                        expected,
                        found: conn,
                    })
                }
                _ => self.conn = Some(conn),
            }
            if seq != self.next_seq {
                break Err(Corrupt::WrongSequence {
                    expected: self.next_seq,
                    found: seq,
                });
            }
            if len as usize > MAX_PAYLOAD {
                break Err(Corrupt::BadLength(len));
            }
            let end = HEADER + len as usize;
            if rest.len() < end {
                break Ok(done);
            }
            if checksum(&rest[HEADER..end]) != sum {
                break Err(Corrupt::BadChecksum { seq });
            }
            self.next_seq += 1;
            self.verified += 1;
            done += 1;
            at += end;
        };
        self.pending.drain(..at);
        result
    }

    /// Frames verified so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }

    /// Whether the bytes so far end between two frames (no frame cut short).
    pub fn at_boundary(&self) -> bool {
        self.pending.is_empty()
    }

    /// The sequence number the next frame must carry.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }
}
