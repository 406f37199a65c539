use std::time::Duration;

/// Every way a provider call can fail, sorted by what the controller should do about it.
///
/// Messages must name the cause (the key, the status code, the provider's error code) and never
/// carry a secret value: they reach status conditions, Events and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The remote secret, version or property does not exist. Drives `deletionPolicy`.
    #[error("not found: {0}")]
    NotFound(String),
    /// The provider refused our credentials or the credentials could not be obtained.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The provider asked us to slow down; `retry_after` is its hint, when it gave one.
    #[error("throttled by provider: {message}")]
    Throttled { message: String, retry_after: Option<Duration> },
    /// A network fault, timeout or 5xx: worth retrying as is.
    #[error("transient provider error: {0}")]
    Transient(String),
    /// The request or the store configuration is wrong: retrying will not help.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl ProviderError {
    /// A short stable label for metrics and condition reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::NotFound(_) => "not_found",
            ProviderError::Auth(_) => "auth",
            ProviderError::Throttled { .. } => "throttled",
            ProviderError::Transient(_) => "transient",
            ProviderError::Invalid(_) => "invalid",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound(_))
    }

    /// Whether a later retry of the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Throttled { .. } | ProviderError::Transient(_))
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        ProviderError::Throttled { message: message.into(), retry_after: None }
    }
}
