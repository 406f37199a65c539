use sesame_provider_core::ProviderError;

use crate::pipeline::{FetchError, TemplateFailure};

/// Why a sync failed. `reason()` is the metric label; `condition_message()` is the short text for
/// `status.conditions` (the detail, `Display`, goes to a Warning Event and the log). Nothing here
/// holds a secret value, nor text a template produced from one: a template failure shows no
/// message of the template's own (`fail`), and an apiserver rejection of what was rendered (labels,
/// annotations) shows the fields it names, not its message, which quotes the rendered values.
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
    Template(TemplateFailure),
    #[error("could not read template source: {0}")]
    TemplateSource(String),
    #[error("{0}")]
    TargetConflict(String),
    #[error("could not update secret, target is immutable")]
    TargetImmutable,
    #[error("could not update secret: its data would be {bytes} bytes, over the {limit}-byte limit of a Kubernetes Secret")]
    TargetTooLarge { bytes: usize, limit: usize },
    #[error("kubernetes API error: {}", kube_text(.0))]
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
    /// sanitised cause, which is what users ask for when a sync fails; for a template only where
    /// and what kind of failure (and which limit), not the engine's message.
    pub fn condition_message(&self) -> String {
        let text = match self {
            Error::Template(f) => format!("could not render template: {}", f.summary),
            other => other.to_string(),
        };
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
        // A provider's "invalid request" (a remote value over the Secret limit, a malformed
        // payload) will not change by retrying either.
        matches!(
            self,
            Error::Fetch(FetchError::Invalid(_) | FetchError::Provider { source: ProviderError::Invalid(_), .. })
                | Error::TargetTooLarge { .. }
        )
    }

    /// Provider refused our credentials: the cached client must be rebuilt.
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Error::ProviderClient(ProviderError::Auth(_)) | Error::Fetch(FetchError::Provider { source: ProviderError::Auth(_), .. })
        )
    }
}

/// An apiserver error without the parts that may quote what we sent: a request the apiserver
/// found invalid is told by its reason, code and the fields it names (map keys dropped).
fn kube_text(e: &kube::Error) -> String {
    let kube::Error::Api(status) = e else {
        return e.to_string();
    };
    if !matches!(status.code, 400 | 422) {
        return status.to_string();
    }
    let fields: Vec<String> =
        status.details.iter().flat_map(|d| &d.causes).map(|c| format!("{} ({})", without_keys(&c.field), c.reason)).collect();
    match fields.is_empty() {
        true => format!("{} ({}): the request was rejected", status.reason, status.code),
        false => format!("{} ({}): rejected fields: {}", status.reason, status.code, fields.join(", ")),
    }
}

/// `metadata.labels[key]` → `metadata.labels[…]`: a key may be rendered.
fn without_keys(field: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in field.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[…]");
                }
                depth += 1;
            }
            ']' => depth = (depth - 1).max(0),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
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

    #[test]
    fn an_invalid_rendered_label_is_told_by_field_not_by_value() {
        let status = kube::core::Status {
            code: 422,
            reason: "Invalid".into(),
            message: "Secret \"s\" is invalid: metadata.labels: Invalid value: \"aHVudGVy\": must be 63 characters or less".into(),
            details: Some(kube::core::response::StatusDetails {
                causes: vec![kube::core::response::StatusCause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: \"aHVudGVy\"".into(),
                    field: "metadata.labels[aHVudGVy]".into(),
                }],
                name: "s".into(),
                group: String::new(),
                kind: "secrets".into(),
                uid: String::new(),
                retry_after_seconds: 0,
            }),
            ..Default::default()
        };
        let e = Error::Kube(kube::Error::Api(Box::new(status)));
        for text in [e.to_string(), e.condition_message()] {
            assert!(!text.contains("aHVudGVy"), "{text}");
            assert!(text.contains("metadata.labels[…] (FieldValueInvalid)"), "{text}");
        }
        let forbidden =
            kube::core::Status { code: 403, reason: "Forbidden".into(), message: "secrets is forbidden".into(), ..Default::default() };
        assert!(Error::Kube(kube::Error::Api(Box::new(forbidden))).to_string().contains("secrets is forbidden"));
    }
}
