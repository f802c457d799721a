//! A file opened with `append` takes every write at its end, whatever offset `write_at` names
//! (as `pwrite` on an `O_APPEND` file on Linux).

mod common;

use common::{TempDir, Watchdog};
use coring::fs::{self, OpenOptions};

#[test]
fn appended_writes_go_to_the_end_of_the_file() {
    let _dog = Watchdog::new(60, "append");
    let dir = TempDir::new("append");
    let path = dir.join("log");
    coring::block_on(async {
        fs::write(&path, b"first\n".to_vec()).await.unwrap();
        let log = OpenOptions::new().append(true).open(&path).await.unwrap();
        for line in ["second\n", "third\n"] {
            let (result, _) = log.write_all_at(line, 0).await;
            result.unwrap();
        }
        log.close().await.unwrap();
        assert_eq!(
            fs::read_to_string(&path).await.unwrap(),
            "first\nsecond\nthird\n"
        );
        // Contradictory options are refused with a clear error naming the path.
        let err = OpenOptions::new()
            .append(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("log"), "{err}");
    });
}
