//! `spec.syncWindows`: when periodic refreshes may run, by cron windows in UTC (ESO 2.9).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GoDuration;

/// Restricts when periodic refreshes run (Periodic policy only). A change of the
/// ExternalSecret, a force-sync and the repair of an edited or deleted Secret are never held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncWindows {
    /// `allow`: periodic refreshes only while at least one window is open. `deny`: none while
    /// any window is open.
    pub kind: SyncWindowKind,
    /// The windows; all share `kind`.
    #[schemars(length(min = 1))]
    pub windows: Vec<SyncWindow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncWindowKind {
    #[serde(rename = "allow")]
    Allow,
    #[serde(rename = "deny")]
    Deny,
}

/// A window opens at each firing of `schedule` and stays open for `duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncWindow {
    /// A 5-field cron expression in UTC (`0 22 * * 1-5`), a shorthand (`@daily`, `@hourly`,
    /// `@weekly`, `@monthly`, `@yearly`, `@annually`, `@midnight`) or `@every <duration>`
    /// (firings at whole multiples of the duration since the Unix epoch).
    #[schemars(
        length(min = 1),
        regex(pattern = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)|@every [^\s]+.*|[^\s]+( [^\s]+){4})$")
    )]
    pub schedule: String,
    /// How long each window stays open, as a Go duration (`8h`).
    pub duration: GoDuration,
}
