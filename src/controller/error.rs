use sesame_provider_core::ProviderError;

use crate::pipeline::FetchError;

/// Why a sync failed. `reason()` is the metric label; `condition_message()` is the short text for
/// `status.conditions` (the detail goes to a Warning Event). Nothing here holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} {name} not found")]
    StoreNotFound { kind: &'static str, name: String },
    #[error("{kind} {name} is not ready{why}")]
    StoreNotReady { kind: &'static str, name: String, why: String },
    #[error("using {kind} {name} is not allowed from namespace {namespace}: {why}")]
    StoreNotAllowed { kind: &'static str, name: String, namespace: String, why: String },
    #[error("could not build the provider client: {0}")]
    ProviderClient(ProviderError),
    #[error("could not get secret data from provider: {0}")]
    Fetch(#[from] FetchError),
    #[error("invalid ExternalSecret: {0}")]
    InvalidSpec(String),
    #[error("could not render template: {0}")]
    Template(String),
    #[error("could not read template source: {0}")]
    TemplateSource(String),
    #[error("{0}")]
    TargetConflict(String),
    #[error("could not update secret, target is immutable")]
    TargetImmutable,
    #[error("could not update secret: its data would be {bytes} bytes, over the {limit}-byte limit of a Kubernetes Secret")]
    TargetTooLarge { bytes: usize, limit: usize },
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::StoreNotFound { .. } => "store_not_found",
            Error::StoreNotReady { .. } => "store_not_ready",
            Error::StoreNotAllowed { .. } => "store_not_allowed",
            Error::ProviderClient(_) => "provider_client",
            Error::Fetch(FetchError::Provider { source, .. }) => match source {
                ProviderError::NotFound(_) => "provider_not_found",
                ProviderError::Auth(_) => "provider_auth",
                ProviderError::Throttled { .. } => "provider_throttled",
                ProviderError::Transient(_) => "provider_transient",
                ProviderError::Invalid(_) => "provider_invalid",
            },
            Error::Fetch(FetchError::Invalid(_)) => "invalid_data",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::Template(_) => "template",
            Error::TemplateSource(_) => "template_source",
            Error::TargetConflict(_) => "target_conflict",
            Error::TargetImmutable => "target_immutable",
            Error::TargetTooLarge { .. } => "target_too_large",
            Error::Kube(_) => "kube",
        }
    }

    /// The message for the Ready condition: short, and never a value. Unlike ESO we keep the
    /// sanitised cause, which is what users ask for when a sync fails.
    pub fn condition_message(&self) -> String {
        let text = self.to_string();
        match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// Errors that a retry cannot fix wait for the object (or its store) to change instead of
    /// backing off forever.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::InvalidSpec(_) | Error::Template(_) | Error::TargetConflict(_) | Error::TargetImmutable | Error::StoreNotAllowed { .. }
        )
    }

    /// Errors in the remote data (undecodable, an invalid key, too large for a Secret): a quick
    /// retry cannot fix them, but a fix at the provider can, so retry at the refresh interval.
    pub fn waits_for_refresh(&self) -> bool {
        matches!(self, Error::Fetch(FetchError::Invalid(_)) | Error::TargetTooLarge { .. })
    }

    /// Provider refused our credentials: the cached client must be rebuilt.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Error::ProviderClient(ProviderError::Auth(_)) | Error::Fetch(FetchError::Provider { source: ProviderError::Auth(_), .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_is_not_ready_says_why() {
        let e = Error::StoreNotReady {
            kind: "SecretStore",
            name: "s".into(),
            why: ": unable to validate store: invalid peer certificate: UnknownIssuer".into(),
        };
        assert_eq!(e.condition_message(), "SecretStore s is not ready: unable to validate store: invalid peer certificate: UnknownIssuer");
        let long = Error::StoreNotReady { kind: "SecretStore", name: "s".into(), why: format!(": {}", "x".repeat(400)) };
        assert!(long.condition_message().chars().count() <= 301, "the condition message is bounded");
    }
}
