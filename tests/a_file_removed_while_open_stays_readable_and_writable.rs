//! Removing a file's name does not touch an open handle: reads and writes through it go on,
//! and the data is gone only when the handle closes.

mod common;

use common::{TempDir, Watchdog};
use coring::fs::{self, File, OpenOptions};

#[test]
fn a_file_removed_while_open_stays_readable_and_writable() {
    let _dog = Watchdog::new(60, "removed while open");
    let dir = TempDir::new("unlinked");
    let path = dir.join("doomed");
    coring::block_on(async {
        fs::write(&path, vec![7u8; 8192]).await.unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        fs::remove_file(&path).await.unwrap();
        assert!(!path.exists());
        let (result, buf) = file.read_exact_at(Vec::with_capacity(8192), 0).await;
        result.unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        let (result, _) = file.write_all_at(b"still here".to_vec(), 8192).await;
        result.unwrap();
        let (result, buf) = file.read_exact_at(Vec::with_capacity(10), 8192).await;
        result.unwrap();
        assert_eq!(buf, b"still here");
        assert_eq!(file.metadata().await.unwrap().len(), 8202);
        file.close().await.unwrap();
        let err = File::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}
