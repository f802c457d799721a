//! [`BufferGroups`]: the buffer group ids of one runtime's live `BufRing`s, which both backends
//! hand out the same way (on epoll the id names nothing in the kernel, but rings of one
//! runtime keep distinct ids there too, as on io_uring).

use std::io;

/// Which group ids (1..=65535) live rings use. Ids are reused, never wrapped onto a live one:
/// on io_uring a registration under a live group's id would fail, and its cleanup would
/// unregister the live group.
///
/// Per runtime, not per process: the kernel scopes group ids to one ring.
#[derive(Debug, Default)]
pub(crate) struct BufferGroups {
    /// The highest id handed out so far; every id above it is free.
    issued: u16,
    /// Ids at or below `issued` whose ring was dropped, handed out again first.
    free: Vec<u16>,
}

impl BufferGroups {
    /// A group id no live ring uses. Freed ids are reused first (last freed, first reused), so
    /// the ids in use stay low and `issued` only grows with the most rings alive at once.
    ///
    /// # Errors
    ///
    /// `OutOfMemory` when all 65535 ids are in use.
    pub(crate) fn take(&mut self) -> io::Result<u16> {
        if let Some(bgid) = self.free.pop() {
            return Ok(bgid);
        }
        if self.issued == u16::MAX {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "coring: all 65535 buffer group ids of this runtime are in use by live BufRings",
            ));
        }
        self.issued += 1;
        Ok(self.issued)
    }

    /// `bgid`'s ring is gone: the id may be handed out again. On io_uring only after the
    /// kernel let go of the group (`Uring::release_buffer_group` keeps a failed one out).
    pub(crate) fn give_back(&mut self, bgid: u16) {
        self.free.push(bgid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_are_reused_and_run_out_with_an_error() {
        let mut groups = BufferGroups::default();
        assert_eq!(groups.take().unwrap(), 1);
        assert_eq!(groups.take().unwrap(), 2);
        groups.give_back(1);
        assert_eq!(groups.take().unwrap(), 1);
        groups.issued = u16::MAX;
        let err = groups.take().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
    }
}
