//! Owned-buffer I/O traits and buffered readers and writers.
//!
//! io_uring reads into and writes from memory after the call that started the operation has
//! returned, so coring's I/O never borrows the caller's bytes: a read or a write takes its buffer
//! **by value** and gives it back with the outcome, as a [`BufResult`](crate::buf::BufResult)
//! (see [`crate::buf`]). The traits here put that shape behind a name anything can implement:
//!
//! - [`AsyncReadRent`]: `read(buf) -> (io::Result<usize>, buf)`; `Ok(0)` into a buffer with room
//!   is the end of the stream. [`AsyncReadRentExt::read_exact`] fills a whole buffer.
//! - [`AsyncWriteRent`]: `write(buf) -> (io::Result<usize>, buf)`, `flush`, `shutdown`.
//!   [`AsyncWriteRentExt::write_all`] writes every initialized byte.
//!
//! On top of them:
//!
//! - [`BufReader`] keeps one internal buffer and reads lines out of it with a **length bound**
//!   ([`read_line`](BufReader::read_line), [`read_until`](BufReader::read_until),
//!   [`next_line`](BufReader::next_line)): a peer that sends an endless line gets an
//!   `InvalidData` error once the bound is passed, never unbounded memory. Over a coring
//!   socket it needs no buffer of its own: it reads through the runtime's read pool (a
//!   multishot receive into provided buffers, see
//!   [`Runtime::read_path`](crate::Runtime::read_path)) and hands out slices of the buffers
//!   the kernel filled. Where the pool is off (`Builder::read_buffers(0, _)`, or a kernel
//!   before 6.0, which lacks multishot receives into buffer rings) it reads into its own buffer.
//! - [`BufWriter`] gathers small writes and sends them on [`flush`](AsyncWriteRent::flush), or
//!   before the next read of the same stream: in `BufReader<BufWriter<TcpStream>>` the
//!   responses to pipelined requests go out in one send, once the reader has no more input.
//! - [`copy`] moves a stream into a writer with one buffer passed back and forth.
//!
//! In-memory implementations (`&[u8]` reads, `Vec<u8>` writes) make the pieces easy to try and
//! to test without a socket.
//!
//! # Cancellation
//!
//! Dropping a read or write future while its operation is in flight gives the buffer to the
//! runtime, which frees it once the kernel is done. Bytes such a read had already taken from a
//! stream are lost (a `TcpStream` reports it on its next read). `BufReader` and `BufWriter`
//! lend their internal buffer to the inner object's operations. If such an operation is dropped
//! while the buffer held bytes not yet consumed or sent, every later call on the reader or
//! writer fails rather than carry on with a hole in the stream; otherwise `BufReader` simply
//! allocates a new buffer. Two paths lose nothing instead. On the read pool path a dropped
//! `BufReader` call loses nothing: the armed receive keeps what arrives, and the reader keeps
//! what it holds. Over coring's streams a `BufWriter` sends its buffer in a send that owns it
//! ([`OwnedSend`](crate::net::OwnedSend)): a flush (or a read sending first) dropped mid-send
//! leaves that send in flight, kept by the writer, whose next call takes its outcome and goes
//! on from there. So `BufReader<BufWriter<TcpStream>>` may be raced in a `select!` with its
//! answers buffered.
//!
//! # Example
//!
//! Reading a request head line by line, each line at most 8 KiB, and answering through a
//! buffered writer:
//!
//! ```
//! use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
//!
//! coring::block_on(async {
//!     let request: &[u8] = b"GET / HTTP/1.0\r\nHost: example.org\r\n\r\nbody";
//!     let mut reader = BufReader::new(request);
//!     let mut line = String::new();
//!     let mut headers = Vec::new();
//!     loop {
//!         line.clear();
//!         let n = reader.read_line(&mut line, 8 * 1024).await?;
//!         if n == 0 || line == "\r\n" {
//!             break;
//!         }
//!         headers.push(line.trim_end().to_owned());
//!     }
//!     assert_eq!(headers, ["GET / HTTP/1.0", "Host: example.org"]);
//!     assert_eq!(reader.buffer(), b"body");
//!
//!     let mut writer = BufWriter::new(Vec::new());
//!     writer.write_all("HTTP/1.0 200 OK\r\n").await.0?;
//!     writer.write_all("\r\n").await.0?;
//!     writer.flush().await?;
//!     assert_eq!(writer.get_ref(), b"HTTP/1.0 200 OK\r\n\r\n");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```

mod buf_reader;
mod buf_writer;
mod copy;
pub(crate) mod ext;
#[cfg(test)]
mod test_support;
mod traits;

pub use buf_reader::BufReader;
pub use buf_writer::BufWriter;
pub use copy::copy;
pub use ext::{AsyncReadRentExt, AsyncWriteRentExt};
pub use traits::{AsyncReadRent, AsyncWriteRent, CutShortMark};

pub(crate) use crate::buf::put_slice;
