//! Errors returned by the oneshot channel.

/// The sender was dropped without sending (or the receiver was closed first), so no value
/// will come.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError(pub(super) ());

error_message!(RecvError: "channel closed");

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// The value has not been sent yet.
    Empty,
    /// No value will ever come: the sender was dropped unsent, the receiver was closed before
    /// a send, or the value was already taken.
    Closed,
}

error_message!(TryRecvError {
    Empty => "channel empty",
    Closed => "channel closed",
});
