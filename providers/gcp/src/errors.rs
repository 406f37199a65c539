//! From the SDK's errors to [`ProviderError`], and the retry policy for reads.
use std::error::Error as _;
use std::time::Duration;

use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::error::{CredentialsError, Error};
use google_cloud_gax::retry_policy::{RetryPolicy, RetryPolicyExt};
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use sesame_provider_core::ProviderError;

/// Sort an SDK error. `what` names the resource (never a value) for the message.
pub(crate) fn classify(err: &Error, what: &str) -> ProviderError {
    if let Some(status) = err.status() {
        let msg = format!("{what}: {} {}", status.code.name(), status.message);
        return match status.code {
            Code::NotFound => ProviderError::NotFound(msg),
            Code::PermissionDenied | Code::Unauthenticated => ProviderError::Auth(msg),
            Code::ResourceExhausted => ProviderError::Throttled { message: msg, retry_after: retry_delay(status) },
            Code::Unavailable | Code::DeadlineExceeded => ProviderError::Transient(msg),
            _ => ProviderError::Invalid(msg),
        };
    }
    if err.is_authentication() {
        // Our own credential providers carry a ProviderError: keep its class (throttled STS, …).
        if let Some(inner) = find_provider_error(err) {
            return inner;
        }
        let transient = in_chain::<CredentialsError>(err).is_some_and(CredentialsError::is_transient);
        let msg = format!("{what}: cannot obtain Google credentials: {err}");
        return if transient { ProviderError::Transient(msg) } else { ProviderError::Auth(msg) };
    }
    let msg = format!("{what}: {err}");
    match err.http_status_code() {
        Some(429) => ProviderError::throttled(msg),
        Some(401 | 403) => ProviderError::Auth(msg),
        Some(404) => ProviderError::NotFound(msg),
        Some(code) if code >= 500 => ProviderError::Transient(msg),
        _ if err.is_timeout() || err.is_io() || err.is_connect() || err.is_transport() => ProviderError::Transient(msg),
        _ => ProviderError::Invalid(msg),
    }
}

/// The `google.rpc.RetryInfo` hint of a status, when the service sent one.
fn retry_delay(status: &google_cloud_gax::error::rpc::Status) -> Option<Duration> {
    status.details.iter().find_map(|d| match d {
        StatusDetails::RetryInfo(info) => {
            info.retry_delay.as_ref().map(|d| Duration::new(u64::try_from(d.seconds()).unwrap_or(0), u32::try_from(d.nanos()).unwrap_or(0)))
        }
        _ => None,
    })
}

/// The first error of type `T` in the source chain.
fn in_chain<T: std::error::Error + 'static>(err: &Error) -> Option<&T> {
    let mut cur = err.source();
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

fn find_provider_error(err: &Error) -> Option<ProviderError> {
    in_chain::<ProviderError>(err).cloned()
}

/// Whether a call is worth repeating: the service is unavailable, throttling, or the request
/// never arrived. Reads (and DELETE) are idempotent, so repeating them is safe; a write that is
/// not (CreateSecret, AddSecretVersion, UpdateSecret) is repeated only when it never left, so a
/// lost answer never adds a second version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadRetry;

impl RetryPolicy for ReadRetry {
    fn on_error(&self, state: &RetryState, error: Error) -> RetryResult {
        if !state.idempotent {
            return if error.is_transient_and_before_rpc() { RetryResult::Continue(error) } else { RetryResult::Permanent(error) };
        }
        let retry = error.is_transient_and_before_rpc()
            || error.is_io()
            || error.is_timeout()
            || error.status().is_some_and(|s| matches!(s.code, Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded))
            || error.http_status_code().is_some_and(|c| c == 429 || c == 503);
        if retry { RetryResult::Continue(error) } else { RetryResult::Permanent(error) }
    }
}

/// Four attempts within 20 s; the controller's own backoff takes over after that.
pub(crate) fn read_retry_policy() -> impl RetryPolicy {
    ReadRetry.with_attempt_limit(4).with_time_limit(Duration::from_secs(20))
}

/// Short first delays: a throttled read is usually fine a moment later.
pub(crate) fn read_backoff() -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
    google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(200))
        .with_maximum_delay(Duration::from_secs(5))
        .with_scaling(2.0)
        .clamp()
}

/// Wrap a [`ProviderError`] for an SDK credentials provider, so [`classify`] gets it back.
pub(crate) fn credentials_error(err: ProviderError) -> CredentialsError {
    let transient = err.is_retryable();
    CredentialsError::from_source(transient, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::Status;

    fn service(code: Code) -> Error {
        Error::service(Status::default().set_code(code).set_message("Secret [projects/1/secrets/db] says so."))
    }

    #[test]
    fn google_status_codes_map_to_what_the_controller_does_next() {
        let kind = |code| classify(&service(code), "projects/p/secrets/db").kind();
        assert_eq!(kind(Code::NotFound), "not_found");
        assert_eq!(kind(Code::PermissionDenied), "auth");
        assert_eq!(kind(Code::Unauthenticated), "auth");
        assert_eq!(kind(Code::ResourceExhausted), "throttled");
        assert_eq!(kind(Code::Unavailable), "transient");
        assert_eq!(kind(Code::DeadlineExceeded), "transient");
        assert_eq!(kind(Code::FailedPrecondition), "invalid");
        assert_eq!(kind(Code::InvalidArgument), "invalid");
    }

    #[test]
    fn messages_name_the_resource_and_the_status() {
        let msg = classify(&service(Code::NotFound), "projects/p/secrets/db").to_string();
        assert!(msg.contains("projects/p/secrets/db") && msg.contains("NOT_FOUND"), "{msg}");
    }

    #[test]
    fn reads_are_retried_only_when_a_retry_can_help() {
        let state = RetryState::new(true);
        let retried = |code| matches!(ReadRetry.on_error(&state, service(code)), RetryResult::Continue(_));
        assert!(retried(Code::ResourceExhausted));
        assert!(retried(Code::Unavailable));
        assert!(retried(Code::DeadlineExceeded));
        assert!(!retried(Code::NotFound));
        assert!(!retried(Code::PermissionDenied));
        assert!(!retried(Code::FailedPrecondition));
        let write = RetryState::new(false);
        assert!(
            !matches!(ReadRetry.on_error(&write, service(Code::Unavailable)), RetryResult::Continue(_)),
            "a write the service may have applied is not repeated"
        );
    }

    #[test]
    fn our_own_credential_errors_keep_their_class() {
        let throttled = Error::authentication(credentials_error(ProviderError::throttled("STS: HTTP 429")));
        assert!(matches!(classify(&throttled, "x"), ProviderError::Throttled { .. }));
        let denied = Error::authentication(credentials_error(ProviderError::Auth("STS: invalid_grant".into())));
        assert!(matches!(classify(&denied, "x"), ProviderError::Auth(m) if m.contains("invalid_grant")));
    }
}
