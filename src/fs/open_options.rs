//! [`OpenOptions`]: how to open a file, as `std::fs::OpenOptions`, opened through the ring.

use super::{c_path, with_path, File};
use crate::op::open_at::open_at;
use std::io;
use std::path::Path;

/// Options for opening a file: read, write, append, truncate, create. The same rules as
/// `std::fs::OpenOptions`, but [`open`](OpenOptions::open) is async and runs `OPENAT` on the
/// ring. Files are always opened close-on-exec.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use coring::fs::OpenOptions;
/// let log = OpenOptions::new().append(true).create(true).open("app.log").await?;
/// // With O_APPEND every write goes to the end of the file, whatever the offset.
/// let (result, _) = log.write_at(b"started\n".to_vec(), 0).await;
/// result?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The setters of [`OpenOptions`]: each `name: type;` (after its docs) stores its argument
/// in the field of that name and returns the options for chaining. `name(arg): type;` names
/// the argument differently from the field (`custom_flags(flags)`, as std spells it).
macro_rules! setters {
    ($($(#[$attr:meta])* $field:ident $(($arg:ident))?: $ty:ty;)*) => {
        $(setters!(@one [$(#[$attr])*] $field [$($arg)? $field] $ty);)*
    };
    (@one [$($attr:tt)*] $field:ident [$arg:ident $($_unused:ident)?] $ty:ty) => {
        $($attr)*
        pub fn $field(&mut self, $arg: $ty) -> &mut Self {
            self.$field = $arg;
            self
        }
    };
}

impl OpenOptions {
    /// All options off; new files get mode `0o666` (before the umask).
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    setters! {
        /// Open for reading.
        read: bool;

        /// Open for writing.
        write: bool;

        /// Open for appending (`O_APPEND`): every write goes to the end, whatever its offset.
        append: bool;

        /// Truncate the file to length 0 on open (needs write access).
        truncate: bool;

        /// Create the file if it does not exist (needs write or append access).
        create: bool;

        /// Create the file, failing with `AlreadyExists` if it exists (`O_CREAT | O_EXCL`).
        create_new: bool;

        /// The permission bits a new file gets (before the umask); default `0o666`.
        mode: u32;

        /// Extra `open(2)` flags (say `libc::O_DIRECT`), or'ed in; the access mode bits are ignored.
        custom_flags(flags): i32;
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a contradictory set of options (say, `create` without write access)
    /// or a path with a NUL byte; otherwise what `open(2)` says. The message names the path.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags().map_err(|e| with_path(e, "open", path))?;
        let fd = open_at(c_path(path)?, flags, self.mode)
            .await
            .map_err(|e| with_path(e, "open", path))?;
        Ok(File::from_parts(fd, path.to_path_buf()))
    }

    fn flags(&self) -> io::Result<i32> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("no access mode: set read, write or append"))
            }
        };
        if !self.write && !self.append && (self.truncate || self.create || self.create_new) {
            return Err(invalid("create and truncate need write or append access"));
        }
        if self.truncate && self.append && !self.create_new {
            return Err(invalid("truncate and append together make no sense"));
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (false, false, false) => 0,
        };
        Ok(access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }
}

#[cfg(test)]
mod tests {
    use super::OpenOptions;

    #[test]
    fn access_and_creation_map_to_open_flags() {
        let flags = |o: &OpenOptions| o.flags().unwrap();
        assert_eq!(flags(OpenOptions::new().read(true)), libc::O_RDONLY);
        assert_eq!(
            flags(OpenOptions::new().write(true).create(true).truncate(true)),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC
        );
        assert_eq!(
            flags(OpenOptions::new().read(true).append(true).create_new(true)),
            libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL
        );
        // Access-mode bits in custom flags cannot turn a read-only open into a writable one.
        let custom = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_RDWR)
            .flags();
        assert_eq!(custom.unwrap(), libc::O_RDONLY);
    }

    #[test]
    fn contradictions_are_invalid_input() {
        for options in [
            OpenOptions::new(),
            OpenOptions::new().read(true).create(true).clone(),
            OpenOptions::new().append(true).truncate(true).clone(),
        ] {
            let err = options.flags().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{options:?}");
        }
    }
}
