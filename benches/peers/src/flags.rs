//! The ring flags the io_uring peers run with (`--peer-flags best|default`).
//!
//! coring and the raw loop set up their rings with `SINGLE_ISSUER | DEFER_TASKRUN`. A peer left at its builder's defaults (no setup flags)
//! pays for task work run by inter-processor interrupts, which coring does not, so the
//! comparison would be with one hand tied. `best` (the default) gives each peer the same class
//! of flags through its own builder: monoio and compio `SINGLE_ISSUER | DEFER_TASKRUN`;
//! tokio-uring `SINGLE_ISSUER | COOP_TASKRUN`, because it waits for completions by polling the
//! ring fd from tokio's epoll, and with `DEFER_TASKRUN` the ring fd never becomes readable
//! until someone enters the ring with `GETEVENTS` (it hangs). `default` keeps the builders'
//! defaults, so runs made before the switch existed stay comparable. glommio builds its rings
//! itself and exposes no setup flags; it runs the same either way.
//!
//! The parent passes the choice to the server, client and task children in the environment
//! ([`ENV`]), since they are this binary re-executed.

use std::fmt;

/// The environment variable carrying the choice to the children.
pub const ENV: &str = "PEERS_PEER_FLAGS";

/// Which ring flags the io_uring peers get.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PeerFlags {
    /// Each peer's builder defaults (no setup flags).
    Default,
    /// The flags coring uses, as far as each peer allows (see the module docs).
    Best,
}

impl PeerFlags {
    pub fn parse(s: &str) -> Option<PeerFlags> {
        match s {
            "default" => Some(PeerFlags::Default),
            "best" => Some(PeerFlags::Best),
            _ => None,
        }
    }

    /// The choice passed down by the parent ([`ENV`]); `best` when it is unset.
    pub fn current() -> PeerFlags {
        std::env::var(ENV)
            .ok()
            .and_then(|v| PeerFlags::parse(&v))
            .unwrap_or(PeerFlags::Best)
    }

    /// The setup flags `peer` (a server id) gets under this choice, for reports.
    pub fn of(self, peer: &str) -> &'static str {
        match (self, peer) {
            (_, "coring" | "coring-ring" | "coring-batch" | "coring-pool") => {
                "SINGLE_ISSUER|DEFER_TASKRUN"
            }
            (_, "raw" | "raw-direct") => "SINGLE_ISSUER|DEFER_TASKRUN",
            (PeerFlags::Best, "monoio" | "compio") => "SINGLE_ISSUER|DEFER_TASKRUN",
            (PeerFlags::Best, "tokio-uring") => "SINGLE_ISSUER|COOP_TASKRUN",
            (PeerFlags::Default, "monoio" | "compio" | "tokio-uring") => "none (builder defaults)",
            (_, "glommio") => "glommio's own",
            _ => "epoll",
        }
    }

    /// A monoio io_uring runtime builder with `entries` SQ entries and these flags.
    pub fn monoio(self, entries: u32) -> monoio::RuntimeBuilder<monoio::IoUringDriver> {
        let builder = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(entries);
        match self {
            PeerFlags::Default => builder,
            PeerFlags::Best => {
                let mut urb = io_uring_06::IoUring::builder();
                urb.setup_single_issuer().setup_defer_taskrun();
                builder.uring_builder(urb)
            }
        }
    }

    /// A compio runtime on its io_uring driver with these flags (entries: compio's default,
    /// 1024, the same as [`crate::servers::ENTRIES`]).
    pub fn compio(self) -> compio::runtime::Runtime {
        let mut proactor = compio::driver::ProactorBuilder::new();
        if self == PeerFlags::Best {
            proactor.single_issuer(true).defer_taskrun(true);
        }
        compio::runtime::Runtime::builder()
            .with_proactor(proactor)
            .build()
            .expect("compio runtime")
    }

    /// A tokio-uring builder with `entries` SQ entries and these flags.
    pub fn tokio_uring(self, entries: u32) -> tokio_uring::Builder {
        let mut builder = tokio_uring::builder();
        builder.entries(entries);
        if self == PeerFlags::Best {
            builder.uring_builder(
                tokio_uring::uring_builder()
                    .setup_single_issuer()
                    .setup_coop_taskrun(),
            );
        }
        builder
    }
}

impl fmt::Display for PeerFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerFlags::Default => "default",
            PeerFlags::Best => "best",
        })
    }
}
