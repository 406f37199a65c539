//! What a backend's documented request quota lets one store do. The controller turns it into the
//! store's call budget when neither a flag nor the store's annotations say otherwise, so a new
//! user's first sync runs as fast as the backend allows and no faster.

/// Sustained remote calls per second, and how many may go at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRate {
    pub qps: u32,
    pub burst: u32,
}

/// A provider's request quota, as its documentation states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallQuota {
    /// Not documented (or not known to Sesame): the controller's conservative default applies.
    Unknown,
    /// The backend sets no per-client quota (a Vault/OpenBao server, the in-memory fake): calls
    /// are held back only after the backend throttles.
    Unmetered,
    /// The documented quota of the API the provider calls most (per account, project or vault).
    Documented(CallRate),
}

impl CallQuota {
    /// A documented quota of `qps` calls per second, with a burst of one second's worth.
    pub const fn per_second(qps: u32) -> CallQuota {
        CallQuota::Documented(CallRate { qps, burst: qps })
    }
}
