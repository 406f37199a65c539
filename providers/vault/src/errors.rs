//! Vault answers sorted into [`ProviderError`]s. Messages name the operation, the path and the
//! status, plus Vault's own error strings (which never echo request bodies); never a value.
use sesame_provider_core::ProviderError;
use vaultrs::error::ClientError;

/// The HTTP status of a failed call, when the server answered at all.
pub(crate) fn status_of(err: &ClientError) -> Option<u16> {
    match err {
        ClientError::APIError { code, .. } => Some(*code),
        ClientError::RestClientError { source: rustify::errors::ClientError::ServerResponseError { code, .. } } => Some(*code),
        _ => None,
    }
}

/// Vault's error strings, trimmed, joined and bounded.
fn vault_errors(err: &ClientError) -> String {
    let ClientError::APIError { errors, .. } = err else {
        return String::new();
    };
    let joined: Vec<String> = errors.iter().map(|e| e.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|e| !e.is_empty()).collect();
    if joined.is_empty() {
        return String::new();
    }
    let mut text = joined.join("; ");
    if text.len() > 200 {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    format!(": {text}")
}

/// Map a failed call on `what` (e.g. "read secret/data/app") to a provider error.
pub(crate) fn classify(what: &str, err: &ClientError) -> ProviderError {
    let detail = vault_errors(err);
    match status_of(err) {
        Some(404) => ProviderError::NotFound(format!("{what}: Vault answered 404{detail}")),
        Some(403) | Some(401) => ProviderError::Auth(format!("{what}: permission denied (HTTP {}){detail}", status_of(err).unwrap_or(403))),
        Some(429) => ProviderError::throttled(format!("{what}: Vault answered 429{detail}")),
        Some(503) => ProviderError::Transient(format!("{what}: Vault is sealed or unavailable (HTTP 503){detail}")),
        Some(code) if code >= 500 => ProviderError::Transient(format!("{what}: Vault answered {code}{detail}")),
        Some(400) if detail.contains("sealed") => ProviderError::Transient(format!("{what}: Vault is sealed{detail}")),
        Some(code) => ProviderError::Invalid(format!("{what}: Vault answered {code}{detail}")),
        None => match err {
            ClientError::RestClientError { source } => match source {
                rustify::errors::ClientError::RequestError { .. } | rustify::errors::ClientError::ResponseError { .. } => {
                    ProviderError::Transient(format!("{what}: cannot reach Vault: {}", chain(err)))
                }
                _ => ProviderError::Invalid(format!("{what}: {}", chain(err))),
            },
            ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
                ProviderError::NotFound(format!("{what}: Vault returned no data"))
            }
            other => ProviderError::Invalid(format!("{what}: {other}")),
        },
    }
}

/// The error and its sources, as one line (transport errors hide the useful part in a source).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, errors: &[&str]) -> ClientError {
        ClientError::APIError { code, errors: errors.iter().map(|e| e.to_string()).collect() }
    }

    #[test]
    fn statuses_map_to_what_the_controller_should_do() {
        assert!(classify("read x", &api(404, &[])).is_not_found());
        assert!(matches!(classify("read x", &api(403, &["permission denied"])), ProviderError::Auth(_)));
        assert!(matches!(classify("read x", &api(429, &[])), ProviderError::Throttled { .. }));
        assert!(matches!(classify("read x", &api(503, &["Vault is sealed"])), ProviderError::Transient(_)));
        assert!(matches!(classify("read x", &api(500, &[])), ProviderError::Transient(_)));
        assert!(matches!(classify("read x", &api(400, &["bad"])), ProviderError::Invalid(_)));
    }

    #[tokio::test]
    async fn a_transport_error_names_its_cause() {
        // reqwest's own Display is only "error sending request for url (…)".
        let err = reqwest::Client::new().get("http://127.0.0.1:1/").send().await.unwrap_err();
        let text = chain(&err).to_lowercase();
        assert!(text.contains("error sending request") && text.contains("refused"), "{text}");
    }

    #[test]
    fn messages_name_the_operation_status_and_vault_reason() {
        let msg = classify("read secret/data/app", &api(403, &["1 error occurred:\n\t* permission denied\n\n"])).to_string();
        assert!(msg.contains("read secret/data/app"), "{msg}");
        assert!(msg.contains("403"), "{msg}");
        assert!(msg.contains("1 error occurred: * permission denied"), "{msg}");
    }
}
