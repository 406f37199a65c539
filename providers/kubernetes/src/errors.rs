//! kube errors sorted by what the controller should do about them. Messages carry the status code
//! and the server's reason, never a value.
use sesame_provider_core::ProviderError;

pub(crate) fn classify(what: &str, err: &kube::Error) -> ProviderError {
    match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let message = format!("{what}: {} (HTTP {code})", status.message.chars().take(300).collect::<String>());
            match code {
                404 => ProviderError::NotFound(message),
                401 | 403 => ProviderError::Auth(message),
                429 => ProviderError::throttled(message),
                c if c >= 500 => ProviderError::Transient(message),
                _ => ProviderError::Invalid(message),
            }
        }
        kube::Error::Auth(e) => ProviderError::Auth(format!("{what}: {e}")),
        // Connection, TLS, timeouts and unreadable answers: worth retrying as is.
        other => ProviderError::Transient(format!("{what}: {other}")),
    }
}
