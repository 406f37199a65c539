//! `STSSessionToken`: sts:GetSessionToken, as ESO: `access_key_id`, `secret_access_key`,
//! `session_token` and `expiration` (Unix seconds).
use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_aws::{AwsAuth, AwsProvider, ClientOptions, sdk_error};

use crate::session;

const PROVIDER: &str = "AWS/STS";
/// GetSessionToken's own limits (IAM users: 15 minutes to 36 hours).
const DURATION: std::ops::RangeInclusive<i32> = 900..=129_600;

/// STSSessionTokenSpec defines the desired state to generate an AWS STS session token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StsSessionTokenSpec {
    /// Region specifies the region to operate in.
    pub region: String,
    /// Auth defines how to authenticate with AWS: `secretRef`, or the controller's own
    /// credentials when empty. `jwt` cannot be used (GetSessionToken needs IAM user credentials).
    #[serde(default, skip_serializing_if = "AwsAuth::is_empty")]
    pub auth: AwsAuth,
    /// You can assume a role before making calls to the desired AWS service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// RequestParameters contains parameters that can be passed to the STS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<StsRequestParameters>,
}

/// RequestParameters contains parameters that can be passed to the STS service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StsRequestParameters {
    /// SessionDuration The duration, in seconds, that the credentials should remain valid.
    /// Acceptable durations for IAM user sessions range from 900 seconds (15 minutes) to 129,600
    /// seconds (36 hours), with 43,200 seconds (12 hours) as the default. Sessions for Amazon Web
    /// Services account owners are restricted to a maximum of 3,600 seconds (one hour). If the
    /// duration is longer than one hour, the session for Amazon Web Services account owners
    /// defaults to one hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<i32>,
    /// SerialNumber is the identification number of the MFA device that is associated with the
    /// IAM user who is making the GetSessionToken call. Possible values: hardware device (such as
    /// GAHT12345678) or an Amazon Resource Name (ARN) for a virtual device (such as
    /// arn:aws:iam::123456789012:mfa/user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// TokenCode is the value provided by the MFA device, if MFA is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_code: Option<String>,
}

/// The STSSessionToken generator.
#[derive(Debug, Clone)]
pub struct StsSessionToken {
    store: AwsProvider,
    params: StsRequestParameters,
    options: ClientOptions,
}

impl StsSessionToken {
    pub fn new(spec: StsSessionTokenSpec) -> Result<Self, GeneratorError> {
        let invalid = |m: &str| GeneratorError::Invalid(format!("STSSessionToken: {m}"));
        if spec.auth.jwt.is_some() {
            return Err(invalid("jwt auth cannot be used for STS session token generation"));
        }
        let store = session::store("STSSessionToken", &spec.region, &spec.role, &spec.auth)?;
        let params = spec.request_parameters.unwrap_or_default();
        if let Some(d) = params.session_duration.filter(|d| !DURATION.contains(d)) {
            return Err(GeneratorError::Invalid(format!(
                "STSSessionToken: requestParameters.sessionDuration {d} is outside {}..={} seconds",
                DURATION.start(),
                DURATION.end()
            )));
        }
        if params.token_code.is_some() && params.serial_number.is_none() {
            return Err(invalid("requestParameters.tokenCode needs requestParameters.serialNumber"));
        }
        Ok(StsSessionToken { store, params, options: ClientOptions::default() })
    }

    /// SDK client options (an explicit endpoint, retries, timeouts).
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }
}

#[async_trait]
impl Generator for StsSessionToken {
    fn kind(&self) -> &'static str {
        "STSSessionToken"
    }

    /// With neither `auth.secretRef` nor `auth.jwt`, the SDK's default chain: the controller's own.
    fn controller_identity(&self) -> Option<&'static str> {
        self.store.controller_identity()
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        // Region, endpoints, retries and credentials, resolved in the context's namespace.
        let config = sesame_provider_aws::sdk_config(&self.store, &ctx.provider, &self.options).await?;
        let client = aws_sdk_sts::Client::new(&config);
        let request = client
            .get_session_token()
            .set_duration_seconds(self.params.session_duration)
            .set_serial_number(self.params.serial_number.clone())
            .set_token_code(self.params.token_code.clone());
        let call = async { request.send().await.map_err(|e| sdk_error(e, "GetSessionToken", "(session token)")) };
        let out = ctx.provider.timed(PROVIDER, "GetSessionToken", call).await?;
        let creds = out.credentials().ok_or_else(|| GeneratorError::Transient("STSSessionToken: no credentials found".into()))?;
        let data = BTreeMap::from([
            ("access_key_id".to_string(), creds.access_key_id().as_bytes().to_vec()),
            ("secret_access_key".to_string(), creds.secret_access_key().as_bytes().to_vec()),
            ("session_token".to_string(), creds.session_token().as_bytes().to_vec()),
            ("expiration".to_string(), creds.expiration().secs().to_string().into_bytes()),
        ]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(json: &str) -> String {
        match StsSessionToken::new(serde_json::from_str(json).unwrap()) {
            Err(GeneratorError::Invalid(m)) => m,
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn spec_validation() {
        assert!(invalid(r#"{"region":"us-east-1","auth":{"jwt":{"serviceAccountRef":{"name":"sa"}}}}"#).contains("jwt auth cannot"));
        assert!(invalid(r#"{"region":""}"#).contains("region is required"));
        assert!(invalid(r#"{"region":"us-east-1","requestParameters":{"sessionDuration":60}}"#).contains("sessionDuration 60"));
        assert!(invalid(r#"{"region":"us-east-1","requestParameters":{"tokenCode":"123456"}}"#).contains("serialNumber"));
        let ok: StsSessionTokenSpec = serde_json::from_str(
            r#"{"region":"us-east-1","role":"arn:aws:iam::1:role/r","requestParameters":{"sessionDuration":3600,"serialNumber":"GAHT1","tokenCode":"123456"}}"#,
        )
        .unwrap();
        let g = StsSessionToken::new(ok).unwrap();
        assert_eq!(g.params.session_duration, Some(3600));
        assert!(g.controller_identity().is_some(), "no auth: the controller's own AWS credentials");
        let keys = r#"{"region":"us-east-1","auth":{"secretRef":{"accessKeyIDSecretRef":{"name":"k","key":"id"},"secretAccessKeySecretRef":{"name":"k","key":"secret"}}}}"#;
        assert_eq!(StsSessionToken::new(serde_json::from_str(keys).unwrap()).unwrap().controller_identity(), None);
    }
}
