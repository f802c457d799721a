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
        pub fn $method<B: $bound>(
            &self,
            $arg: $ty,
        ) -> impl std::future::Future<Output = BufResult<$out, $ty>> + use<'_, B> {
            // The inner method's own future, not an `async fn` around it: that layer would keep
            // a second copy of the argument (and of `&self`) in every pending call.
            self.$field.$method($arg)
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
