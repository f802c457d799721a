//! Macros for the stream types that wrap another stream and hand its byte-stream methods on
//! unchanged (the TCP halves over `TcpStream`, `UnixStream` and its halves over the TCP
//! types): the signatures and bodies are written once here; each invocation gives the docs.

/// Inherent methods handed on to the stream in `self.$field`, each as `/// docs` then
/// `name => "cancel safety";` with a name out of `read`, `readv`, `write`, `write_all`,
/// `writev`: the second part becomes the method's "# Cancel safety" section, which every
/// public async method of `net` has (`tests/every_public_async_method_in_net_and_io_...`).
macro_rules! forward_stream_methods {
    ($field:ident; $($(#[$attr:meta])* $method:ident => $cancel:literal;)*) => {
        $(forward_stream_methods!(@sig $field, [$(#[$attr])*] $cancel, $method);)*
    };
    (@sig $field:ident, $attrs:tt $cancel:literal, read) => {
        forward_stream_methods!(@emit $field, $attrs $cancel, read(buf: B) IoBufMut, usize);
    };
    (@sig $field:ident, $attrs:tt $cancel:literal, readv) => {
        forward_stream_methods!(@emit $field, $attrs $cancel, readv(bufs: Vec<B>) IoBufMut, usize);
    };
    (@sig $field:ident, $attrs:tt $cancel:literal, write) => {
        forward_stream_methods!(@emit $field, $attrs $cancel, write(buf: B) IoBuf, usize);
    };
    (@sig $field:ident, $attrs:tt $cancel:literal, write_all) => {
        forward_stream_methods!(@emit $field, $attrs $cancel, write_all(buf: B) IoBuf, ());
    };
    (@sig $field:ident, $attrs:tt $cancel:literal, writev) => {
        forward_stream_methods!(@emit $field, $attrs $cancel, writev(bufs: Vec<B>) IoBuf, usize);
    };
    (
        @emit $field:ident, [$($attr:tt)*] $cancel:literal,
        $method:ident($arg:ident: $ty:ty) $bound:ident, $out:ty
    ) => {
        $($attr)*
        ///
        /// # Cancel safety
        ///
        #[doc = $cancel]
        pub async fn $method<B: $bound>(&self, $arg: $ty) -> BufResult<$out, $ty> {
            self.$field.$method($arg).await
        }
    };
}

/// `AsyncReadRent` (`read: Type => field`) or `AsyncWriteRent` (`write: Type => field`) for a
/// type, handed on to the impl of the stream in its `field`.
macro_rules! forward_rent_io {
    (read: $ty:ty => $field:ident) => {
        impl crate::io::AsyncReadRent for $ty {
            fn read<B: crate::buf::IoBufMut>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> {
                crate::io::AsyncReadRent::read(&mut self.$field, buf)
            }

            fn pooled_receive(&self) -> Option<crate::net::RecvStream> {
                crate::io::AsyncReadRent::pooled_receive(&self.$field)
            }
        }
    };
    (write: $ty:ty => $field:ident) => {
        impl crate::io::AsyncWriteRent for $ty {
            fn write<B: crate::buf::IoBuf>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> {
                crate::io::AsyncWriteRent::write(&mut self.$field, buf)
            }

            /// A socket buffers nothing in user space.
            fn flush(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> {
                crate::io::AsyncWriteRent::flush(&mut self.$field)
            }

            fn shutdown(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> {
                crate::io::AsyncWriteRent::shutdown(&mut self.$field)
            }

            fn cut_short_mark(&self) -> crate::io::CutShortMark {
                crate::io::AsyncWriteRent::cut_short_mark(&self.$field)
            }

            fn send_owned(
                &self,
                buf: crate::buf::Slice<Vec<u8>>,
            ) -> Result<crate::net::OwnedSend, crate::buf::Slice<Vec<u8>>> {
                crate::io::AsyncWriteRent::send_owned(&self.$field, buf)
            }
        }
    };
}

/// `AsRawFd` and `AsFd` for a socket type, from the descriptor of its field `$fd` (a
/// `SharedFd`, or a stream with these impls); with `debug: addr, ...`, also a `Debug` that
/// shows the descriptor and those addresses (`None` where the call fails).
macro_rules! socket_fd_impls {
    ($ty:ident => $fd:ident $(, debug: $($addr:ident),+)?) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.$fd)
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.$fd.as_fd()
            }
        }

        $(
            impl std::fmt::Debug for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($ty))
                        .field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
                        $(.field(stringify!($addr), &self.$addr().ok()))+
                        .finish()
                }
            }
        )?
    };
}

#[cfg(test)]
mod tests {
    use crate::net::{TcpStream, UnixStream};
    use std::mem::size_of_val;
    use std::net::Shutdown;

    /// A handed-on method returns the future of the method it hands on to: an `async fn` layer
    /// around it would keep a second copy of the buffer (and of `&self`) in every pending call,
    /// and so in every task awaiting one (as `TcpStream::write_all` once did).
    #[test]
    fn a_handed_on_method_s_future_is_the_size_of_the_one_it_hands_on_to() {
        crate::block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let tcp = TcpStream::from_std(client).unwrap();
            let (unix, _peer) = UnixStream::pair().unwrap();
            let buf = || vec![0u8; 16];
            let bufs = || vec![vec![0u8; 16]];
            // The futures TcpStream's own methods return, which every handed-on one should be.
            let read = size_of_val(&tcp.read(buf()));
            let readv = size_of_val(&tcp.readv(bufs()));
            let write = size_of_val(&tcp.write(buf()));
            let write_all = size_of_val(&tcp.write_all(buf()));
            let writev = size_of_val(&tcp.writev(bufs()));
            let shutdown = size_of_val(&tcp.shutdown(Shutdown::Write));
            let mut sizes = vec![
                ("UnixStream::read", read, size_of_val(&unix.read(buf()))),
                ("UnixStream::readv", readv, size_of_val(&unix.readv(bufs()))),
                ("UnixStream::write", write, size_of_val(&unix.write(buf()))),
                ("UnixStream::write_all", write_all, size_of_val(&unix.write_all(buf()))),
                ("UnixStream::writev", writev, size_of_val(&unix.writev(bufs()))),
                ("UnixStream::shutdown", shutdown, size_of_val(&unix.shutdown(Shutdown::Write))),
            ];
            let (tcp_read, tcp_write) = tcp.into_split();
            let (unix_read, unix_write) = unix.into_split();
            sizes.extend([
                ("OwnedReadHalf::read", read, size_of_val(&tcp_read.read(buf()))),
                ("OwnedReadHalf::readv", readv, size_of_val(&tcp_read.readv(bufs()))),
                ("OwnedWriteHalf::write", write, size_of_val(&tcp_write.write(buf()))),
                ("OwnedWriteHalf::write_all", write_all, size_of_val(&tcp_write.write_all(buf()))),
                ("OwnedWriteHalf::writev", writev, size_of_val(&tcp_write.writev(bufs()))),
                ("OwnedWriteHalf::shutdown", shutdown, size_of_val(&tcp_write.shutdown())),
            ]);
            sizes.extend([
                ("unix::OwnedReadHalf::read", read, size_of_val(&unix_read.read(buf()))),
                ("unix::OwnedReadHalf::readv", readv, size_of_val(&unix_read.readv(bufs()))),
                ("unix::OwnedWriteHalf::write", write, size_of_val(&unix_write.write(buf()))),
                (
                    "unix::OwnedWriteHalf::write_all",
                    write_all,
                    size_of_val(&unix_write.write_all(buf())),
                ),
                ("unix::OwnedWriteHalf::writev", writev, size_of_val(&unix_write.writev(bufs()))),
                ("unix::OwnedWriteHalf::shutdown", shutdown, size_of_val(&unix_write.shutdown())),
            ]);
            for (name, own, handed_on) in &sizes {
                println!("{name}: {handed_on} B (TcpStream's own: {own} B)");
            }
            let larger: Vec<_> = sizes.iter().filter(|(_, own, on)| on > own).collect();
            assert!(larger.is_empty(), "handed-on futures larger than their own: {larger:?}");
        });
    }
}
