//! `error_message!`: the `Display` and `std::error::Error` impls of the crate's error types that
//! print a fixed message (one per variant for an enum), written once.

/// `Display` and `std::error::Error` for an error type whose message is fixed:
/// `error_message!(Type: "message")`, or per variant of a field-less enum:
/// `error_message!(Type { Variant => "message", ... })`.
macro_rules! error_message {
    ($ty:ident: $msg:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($msg)
            }
        }

        impl std::error::Error for $ty {}
    };
    ($ty:ident { $($variant:ident => $msg:literal),+ $(,)? }) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($ty::$variant => $msg,)+
                })
            }
        }

        impl std::error::Error for $ty {}
    };
}
