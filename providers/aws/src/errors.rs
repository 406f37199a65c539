//! AWS SDK errors → [`ProviderError`], by error code first and HTTP status second.
//!
//! Messages name the service, the operation, the key and AWS's error code and message; AWS never
//! echoes a secret value in an error, and neither do we.
use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sesame_provider_core::ProviderError;

/// Map a failed SDK call (of any AWS SDK client: they share the error types). `op` is the
/// operation (`GetSecretValue`), `what` the key or role it was about.
pub fn from_sdk<E>(err: SdkError<E, HttpResponse>, op: &str, what: &str) -> ProviderError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    // Credentials that could not be obtained surface wrapped in whatever the SDK made of them;
    // the cause we built ourselves (a missing Kubernetes Secret, a refused STS call) wins.
    if let Some(cause) = find_cause::<ProviderError>(&err) {
        return cause.clone();
    }
    if find_cause::<CredentialsError>(&err).is_some() {
        return ProviderError::Auth(format!("{op} {what}: could not load AWS credentials: {}", DisplayErrorContext(&err)));
    }
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            from_code(e.code().unwrap_or("Unknown"), e.message().unwrap_or(""), Some(status), op, what)
        }
        SdkError::TimeoutError(_) => ProviderError::Transient(format!("{op} {what}: timed out")),
        SdkError::DispatchFailure(d) if d.is_user() => {
            ProviderError::Invalid(format!("{op} {what}: request could not be sent: {}", DisplayErrorContext(&err)))
        }
        SdkError::DispatchFailure(_) => ProviderError::Transient(format!("{op} {what}: request failed: {}", DisplayErrorContext(&err))),
        SdkError::ResponseError(r) => ProviderError::Transient(format!(
            "{op} {what}: unreadable response (HTTP {}): {}",
            r.raw().status().as_u16(),
            DisplayErrorContext(&err)
        )),
        SdkError::ConstructionFailure(_) => {
            ProviderError::Invalid(format!("{op} {what}: request could not be built: {}", DisplayErrorContext(&err)))
        }
        _ => ProviderError::Transient(format!("{op} {what}: {}", DisplayErrorContext(&err))),
    }
}

/// Map an AWS error code (also used for the per-id errors of a batch call, which have no status).
pub(crate) fn from_code(code: &str, message: &str, status: Option<u16>, op: &str, what: &str) -> ProviderError {
    let text = if message.is_empty() { format!("{op} {what}: {code}") } else { format!("{op} {what}: {code}: {message}") };
    match code {
        "ResourceNotFoundException" | "ParameterNotFound" | "ParameterVersionNotFound" | "InvalidResourceId" => {
            ProviderError::NotFound(text)
        }
        // A secret scheduled for deletion reads as gone, as in ESO.
        "InvalidRequestException" if is_marked_for_deletion(message) => ProviderError::NotFound(text),
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "InvalidIdentityToken"
        | "IDPRejectedClaim"
        | "IDPCommunicationError"
        | "DecryptionFailure"
        | "InvalidKeyId"
        | "NotAuthorized" => ProviderError::Auth(text),
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ThrottledException"
        | "SlowDown"
        | "ProvisionedThroughputExceededException" => ProviderError::throttled(text),
        "InternalServiceError"
        | "InternalServiceErrorException"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalServerException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ProviderError::Transient(text),
        _ => match status {
            Some(429) => ProviderError::throttled(text),
            Some(401 | 403) => ProviderError::Auth(text),
            Some(404) => ProviderError::NotFound(text),
            Some(s) if s >= 500 => ProviderError::Transient(text),
            _ => ProviderError::Invalid(text),
        },
    }
}

fn is_marked_for_deletion(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("marked for deletion") || m.contains("marked deleted") || m.contains("scheduled for deletion")
}

/// The first error of type `T` in `err`'s source chain (including `err` itself).
fn find_cause<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_what_the_controller_does_next() {
        let k = |code: &str, msg: &str, status| from_code(code, msg, status, "GetSecretValue", "db").kind();
        assert_eq!(k("ResourceNotFoundException", "", Some(400)), "not_found");
        assert_eq!(k("ParameterNotFound", "", Some(400)), "not_found");
        assert_eq!(
            k("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.", Some(400)),
            "not_found"
        );
        assert_eq!(k("InvalidRequestException", "something else", Some(400)), "invalid");
        assert_eq!(k("AccessDeniedException", "", Some(400)), "auth");
        assert_eq!(k("UnrecognizedClientException", "", Some(400)), "auth");
        assert_eq!(k("ExpiredTokenException", "", Some(400)), "auth");
        assert_eq!(k("ThrottlingException", "Rate exceeded", Some(400)), "throttled");
        assert_eq!(k("Whatever", "", Some(429)), "throttled");
        assert_eq!(k("Whatever", "", Some(503)), "transient");
        assert_eq!(k("InternalServiceError", "", Some(500)), "transient");
        assert_eq!(k("ValidationException", "", Some(400)), "invalid");
    }

    #[test]
    fn messages_name_the_operation_key_and_code() {
        let e = from_code("AccessDeniedException", "not allowed", Some(400), "GetSecretValue", "prod/db");
        assert_eq!(e.to_string(), "authentication failed: GetSecretValue prod/db: AccessDeniedException: not allowed");
    }
}
