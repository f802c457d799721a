//! Networking on the ring: TCP and UDP sockets whose I/O goes through io_uring with owned buffers.
