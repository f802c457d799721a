//! [`copy`]: a reader into a writer, through one owned buffer.

use super::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use std::io;

/// Size of the one buffer [`copy`] moves bytes through.
const COPY_BUFFER: usize = 64 * 1024;

/// Reads `reader` to its end, writes everything to `writer`, flushes it, and returns how many
/// bytes were copied.
///
/// One 64 KiB buffer is allocated per call and passed back and forth: into the read, then (with
/// the bytes just read) into the write, then into the next read, so no chunk allocates. The
/// writer is flushed at the end, not shut down. `Interrupted` reads are retried.
///
/// # Errors
///
/// The first read or write error; bytes read before it may or may not have been written.
///
/// # Cancel safety
///
/// Not cancel safe: dropped midway, bytes read and not yet written are lost, and how much was
/// copied is not reported.
///
/// ```
/// use coring::io::{copy, BufWriter};
///
/// coring::block_on(async {
///     let mut reader: &[u8] = b"some bytes";
///     let mut writer = BufWriter::new(Vec::new());
///     assert_eq!(copy(&mut reader, &mut writer).await?, 10);
///     assert_eq!(writer.get_ref(), b"some bytes", "flushed at the end");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncReadRent + ?Sized,
    W: AsyncWriteRent + ?Sized,
{
    let mut buf = Vec::with_capacity(COPY_BUFFER);
    let mut copied = 0u64;
    loop {
        // Reads fill from the start and only ever grow `len`: start from empty so that `len`
        // is exactly what this read brought.
        buf.clear();
        let (result, back) = reader.read(buf).await;
        buf = back;
        match result {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        let n = buf.len();
        let (result, back) = writer.write_all(buf).await;
        buf = back;
        result?;
        copied += n as u64;
    }
    writer.flush().await?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::copy;
    use crate::io::test_support::{pseudo_random, ChunkedReader, ChunkedWriter};
    use crate::io::{BufReader, BufWriter};

    #[test]
    fn copies_a_mebibyte_in_odd_chunks_through_one_buffer() {
        crate::block_on(async {
            let data = pseudo_random(1 << 20);
            let mut reader = ChunkedReader::new(data.clone(), &[1, 4093, 17, 65537, 999, 3]);
            let mut writer = ChunkedWriter::new(7777);
            let copied = copy(&mut reader, &mut writer).await.unwrap();
            assert_eq!(copied, 1 << 20);
            assert!(writer.data == data, "the bytes arrive intact and in order");
            assert_eq!(writer.flushes, 1);
            assert!(!writer.shut_down);
            assert_eq!(reader.buffers.len(), 1, "one buffer for every read");
            assert!(reader.reads > 50);
        });
    }

    #[test]
    fn copies_between_buffered_ends() {
        crate::block_on(async {
            let data = pseudo_random(300_001);
            let reader = ChunkedReader::new(data.clone(), &[5000, 7, 123]);
            let mut reader = BufReader::with_capacity(1000, reader);
            let mut writer = BufWriter::with_capacity(333, ChunkedWriter::new(4096));
            assert_eq!(copy(&mut reader, &mut writer).await.unwrap(), 300_001);
            assert!(writer.buffer().is_empty());
            assert!(writer.get_ref().data == data);
        });
    }

    #[test]
    fn an_empty_reader_copies_nothing() {
        crate::block_on(async {
            let mut reader: &[u8] = b"";
            let mut writer = Vec::new();
            assert_eq!(copy(&mut reader, &mut writer).await.unwrap(), 0);
            assert!(writer.is_empty());
        });
    }
}
