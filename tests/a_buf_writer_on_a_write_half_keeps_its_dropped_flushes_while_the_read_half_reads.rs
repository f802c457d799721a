//! Adversary (BufWriter's parked send): over an owned writing half, 30 flushes each cut by a
//! 5 ms timeout (so most leave a send parked), while another task reads lines from the reading
//! half and the peer both writes lines and reads slowly. Both directions must arrive whole and
//! in order. On both backends.

mod common;

use common::within;
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpStream;
use coring::Backend;
use std::io::Write;
use std::time::Duration;

const CHUNK: usize = 32 * 1024;
const CHUNKS: usize = 30;
const LINES: usize = 200;

fn chunk(n: usize) -> Vec<u8> {
    (0..CHUNK).map(|i| ((i * 3 + n * 17) % 251) as u8).collect()
}

fn run(backend: Backend) {
    let (client, server) = common::small_window_pair();
    let mut writer_side = client.try_clone().unwrap();
    let talker = std::thread::spawn(move || {
        for i in 0..LINES {
            writer_side
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        writer_side.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let listener = common::peer::read_to_end_slowly(client, 2048, Duration::from_millis(1));
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let (lines, cut) = runtime.block_on(async {
        let (read_half, write_half) = TcpStream::from_std(server).unwrap().into_split();
        let reading = coring::spawn(async move {
            let mut reader = BufReader::new(read_half);
            let mut lines = Vec::new();
            while let Some(line) = reader.next_line(64).await.unwrap() {
                lines.push(String::from_utf8(line.to_vec()).unwrap());
            }
            lines
        });
        let mut writer = BufWriter::with_capacity(2 * CHUNK, write_half);
        let mut cut = 0;
        for n in 0..CHUNKS {
            writer.write_all(chunk(n)).await.0.unwrap();
            let flush = coring::time::timeout(Duration::from_millis(5), writer.flush()).await;
            cut += usize::from(flush.is_err());
        }
        writer.shutdown().await.unwrap();
        (reading.await.unwrap(), cut)
    });
    talker.join().unwrap();
    let got = listener.join().unwrap();
    println!("{backend:?}: {cut} of {CHUNKS} flushes cut by the timeout");
    let expected: Vec<u8> = (0..CHUNKS).flat_map(chunk).collect();
    common::peer::assert_same_bytes(&format!("{backend:?}"), &got, &expected);
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}\n")).collect();
    assert_eq!(lines, expected, "{backend:?}: the lines read");
    assert!(cut > 0, "{backend:?}: no flush was cut");
}

#[test]
fn a_buf_writer_on_a_write_half_keeps_its_dropped_flushes_while_the_read_half_reads() {
    for backend in common::backends() {
        within(Duration::from_secs(60), move || run(backend));
    }
}
