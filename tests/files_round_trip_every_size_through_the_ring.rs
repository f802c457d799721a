//! Files written and read back through `coring::fs` keep every byte: 1 byte, 4 KiB, 64 MiB,
//! sparse offsets, registered buffers, and the whole-file helpers.

mod common;

use common::{TempDir, Watchdog, Xorshift};
use coring::buf::FixedBufPool;
use coring::fs::{self, File, OpenOptions};

fn round_trip(dir: &TempDir, name: &str, len: usize) {
    let path = dir.join(name);
    let data = Xorshift::new(len as u64 + 1).bytes(len);
    let expected = data.clone();
    coring::block_on(async {
        let file = File::create(&path).await.unwrap();
        let (result, _) = file.write_all_at(data, 0).await;
        result.unwrap();
        file.sync_data().await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), len as u64);
        file.close().await.unwrap();

        let file = File::open(&path).await.unwrap();
        let (result, buf) = file.read_exact_at(Vec::with_capacity(len), 0).await;
        result.unwrap();
        assert!(buf == expected, "{name}: the bytes read back differ");
        // Past the end: a read of 0, not an error.
        let (result, _) = file.read_at(Vec::with_capacity(16), len as u64).await;
        assert_eq!(result.unwrap(), 0);
        assert!(
            fs::read(&path).await.unwrap() == expected,
            "{name}: fs::read differs"
        );
    });
    // And the kernel agrees, read by std.
    assert!(std::fs::read(&path).unwrap() == expected);
}

#[test]
fn one_byte_round_trips() {
    let _dog = Watchdog::new(60, "one byte");
    round_trip(&TempDir::new("rt1"), "one", 1);
}

#[test]
fn four_kib_round_trips() {
    let _dog = Watchdog::new(60, "4 KiB");
    round_trip(&TempDir::new("rt4k"), "four_kib", 4096);
}

#[test]
fn sixty_four_mib_round_trips() {
    let _dog = Watchdog::new(120, "64 MiB");
    round_trip(&TempDir::new("rt64m"), "big", 64 << 20);
}

#[test]
fn sparse_writes_leave_zeroed_holes_and_set_len_cuts_and_extends() {
    let _dog = Watchdog::new(60, "sparse");
    let dir = TempDir::new("sparse");
    let path = dir.join("sparse");
    coring::block_on(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let offsets = [0u64, 4095, 1 << 20, (1 << 30) + 7];
        for (i, &pos) in offsets.iter().enumerate() {
            let (result, _) = file.write_all_at(vec![i as u8 + 1; 3], pos).await;
            result.unwrap();
        }
        assert_eq!(file.metadata().await.unwrap().len(), (1 << 30) + 10);
        for (i, &pos) in offsets.iter().enumerate() {
            let (result, buf) = file.read_exact_at(Vec::with_capacity(3), pos).await;
            result.unwrap();
            assert_eq!(buf, vec![i as u8 + 1; 3], "at {pos}");
        }
        // A hole reads as zeroes.
        let (result, buf) = file.read_exact_at(Vec::with_capacity(4096), 8192).await;
        result.unwrap();
        assert!(buf.iter().all(|&b| b == 0));

        file.set_len(4096).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4096);
        file.set_len(10_000).await.unwrap();
        let (result, buf) = file.read_exact_at(Vec::with_capacity(10_000), 0).await;
        result.unwrap();
        assert_eq!(&buf[..3], &[1, 1, 1]);
        assert_eq!(&buf[4095..4096], &[2]);
        assert!(buf[4096..].iter().all(|&b| b == 0), "extended with zeroes");

        // An offset io_uring would take for "the current position" is refused, not obeyed.
        let (result, _) = file.read_at(Vec::with_capacity(1), u64::MAX).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("sparse"), "{err}");
        file.sync_all().await.unwrap();
    });
}

#[test]
fn registered_buffers_round_trip() {
    let _dog = Watchdog::new(60, "fixed");
    let dir = TempDir::new("fixed");
    let path = dir.join("fixed");
    coring::block_on(async {
        let pool = FixedBufPool::new(2, 4096).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let mut buf = pool.try_take().unwrap();
        buf.extend_from_slice(&[0xAB; 4096]);
        let (result, _buf) = file.write_fixed_at(buf, 12_288).await;
        assert_eq!(result.unwrap(), 4096);
        let (result, buf) = file.read_fixed_at(pool.try_take().unwrap(), 12_288).await;
        assert_eq!(result.unwrap(), 4096);
        assert!(buf.iter().all(|&b| b == 0xAB));
        // A plain buffer is not registered: a clear error, not a panic.
        let (result, _) = file.read_fixed_at(Vec::with_capacity(8), 0).await;
        assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn the_path_helpers_create_rename_stat_and_remove() {
    let _dog = Watchdog::new(60, "helpers");
    let dir = TempDir::new("helpers");
    coring::block_on(async {
        let sub = dir.join("sub");
        fs::create_dir(&sub).await.unwrap();
        assert!(fs::metadata(&sub).await.unwrap().is_dir());
        let a = sub.join("a.txt");
        fs::write(&a, "héllo").await.unwrap();
        let meta = fs::metadata(&a).await.unwrap();
        assert!(meta.is_file() && !meta.is_dir());
        assert_eq!(meta.len(), 6);
        let age = meta.modified().unwrap().elapsed().unwrap_or_default();
        assert!(age.as_secs() < 600, "modified {age:?} ago");
        let b = sub.join("b.txt");
        fs::rename(&a, &b).await.unwrap();
        assert_eq!(fs::read_to_string(&b).await.unwrap(), "héllo");
        assert!(!a.exists());
        fs::write(&b, vec![0xFF, 0xFE]).await.unwrap();
        let err = fs::read_to_string(&b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        fs::remove_file(&b).await.unwrap();
        assert!(!b.exists());
    });
}
