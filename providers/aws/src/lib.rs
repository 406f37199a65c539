//! Sesame's AWS provider: `spec.provider.aws` of ESO's SecretStore, reading AWS Secrets Manager
//! and AWS Systems Manager Parameter Store through the official SDK.
//!
//! The configuration types always compile (the CRD generator needs them); the SDK clients sit
//! behind the `client` feature (default on).
//!
//! * [`build`] makes one client per store, meant to be kept for the store's generation: its
//!   credentials refresh themselves (the SDK's lazy identity cache in front of providers that
//!   fetch fresh credentials: static keys re-read from their Secret every five minutes, web
//!   identity and assumed roles renewed before they expire).
//! * Endpoints follow the SDK's config loader: `AWS_ENDPOINT_URL`,
//!   `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_STS`, or
//!   [`ClientOptions::endpoint_url`].
//! * `get_secret` returns the whole payload (the controller applies `property` and `extract`);
//!   `get_secrets` batches with BatchGetSecretValue (20 ids) or GetParameters (10 names).
#![forbid(unsafe_code)]

mod config;
mod session_tags;

pub use config::{AwsAuth, AwsAuthSecretRef, AwsJwtAuth, AwsProvider, AwsServiceType, SecretsManagerOptions, Tag};
pub use session_tags::{RESERVED_SESSION_TAG_KEYS, RESERVED_TAGS_RULE, SessionOrigin, SessionTagsPolicy};

#[cfg(feature = "client")]
mod auth;
#[cfg(feature = "client")]
mod batch;
#[cfg(feature = "client")]
mod errors;
#[cfg(feature = "client")]
mod parameter_store;
#[cfg(feature = "client")]
mod ps_push;
#[cfg(feature = "client")]
mod secrets_manager;
#[cfg(feature = "client")]
mod sm_policy;
#[cfg(feature = "client")]
mod sm_push;

#[cfg(feature = "client")]
pub use client::*;

#[cfg(feature = "client")]
mod client {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use sesame_provider_core::{FindQuery, ProviderContext, ProviderError, SecretProvider};

    pub use crate::auth::{AUDIENCE_ANNOTATION, DEFAULT_AUDIENCE, ROLE_ARN_ANNOTATION, SESSION_NAME, sdk_config};
    use crate::config::{AwsProvider, AwsServiceType};
    pub use crate::errors::from_sdk as sdk_error;
    pub use crate::parameter_store::ParameterStoreClient;
    pub use crate::secrets_manager::SecretsManagerClient;

    /// How the SDK clients behave, beyond what the store spec says.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ClientOptions {
        /// One endpoint for every AWS service (STS included). Unset, the SDK's config loader
        /// resolves endpoints, `AWS_ENDPOINT_URL*` environment variables included.
        pub endpoint_url: Option<String>,
        /// Retries after the first attempt of a throttled or failed call (ESO's
        /// `retrySettings.maxRetries`; 3 by default, as ESO's AWS provider).
        pub max_retries: u32,
        /// The initial backoff between retries (ESO's `retrySettings.retryInterval`); unset, the
        /// SDK's standard exponential backoff with jitter.
        pub retry_interval: Option<Duration>,
        /// The limit on one attempt of one call.
        pub attempt_timeout: Duration,
        /// The limit on one call, retries included.
        pub operation_timeout: Duration,
        /// How long static keys read from `auth.secretRef` are used before the Secret is read
        /// again (so rotated keys are picked up without rebuilding the client).
        pub secret_ref_refresh: Duration,
        /// The namespace and store the client serves: the values of the `sessionTagsPolicy`
        /// tags.
        pub session_origin: crate::SessionOrigin,
    }

    impl Default for ClientOptions {
        fn default() -> Self {
            ClientOptions {
                endpoint_url: None,
                max_retries: 3,
                retry_interval: None,
                attempt_timeout: Duration::from_secs(30),
                operation_timeout: Duration::from_secs(120),
                secret_ref_refresh: Duration::from_secs(300),
                session_origin: Default::default(),
            }
        }
    }

    impl ClientOptions {
        /// Apply a store's `retrySettings`; an unset field keeps the default.
        pub fn with_retries(mut self, max_retries: Option<u32>, retry_interval: Option<Duration>) -> Self {
            if let Some(n) = max_retries {
                self.max_retries = n;
            }
            if retry_interval.is_some() {
                self.retry_interval = retry_interval;
            }
            self
        }

        pub(crate) fn retry_config(&self) -> RetryConfig {
            let config = RetryConfig::standard().with_max_attempts(self.max_retries.saturating_add(1));
            match self.retry_interval {
                Some(interval) => config.with_initial_backoff(interval),
                None => config,
            }
        }

        pub(crate) fn timeout_config(&self) -> TimeoutConfig {
            TimeoutConfig::builder().operation_attempt_timeout(self.attempt_timeout).operation_timeout(self.operation_timeout).build()
        }
    }

    /// Build the client of one store with default [`ClientOptions`].
    pub async fn build(spec: &AwsProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
        build_with(spec, ctx, ClientOptions::default()).await
    }

    /// Build the client of one store. Fails with `Auth` when the credentials the spec names
    /// cannot be read (a missing Secret key, a ServiceAccount without a role annotation); AWS
    /// itself is first called by `validate` or the first read.
    pub async fn build_with(
        spec: &AwsProvider,
        ctx: ProviderContext,
        options: ClientOptions,
    ) -> Result<Arc<dyn SecretProvider>, ProviderError> {
        // Before any credential is read: the service is the first thing wrong.
        if let Some(why) = spec.service.unsupported() {
            return Err(ProviderError::Invalid(why));
        }
        spec.check_urls()?;
        spec.check_session_tags()?;
        let config = crate::auth::sdk_config(spec, &ctx, &options).await?;
        let prefix = spec.prefix.clone().unwrap_or_default();
        Ok(match spec.service {
            AwsServiceType::SecretsManager => Arc::new(SecretsManagerClient::new(&config, ctx, prefix, spec.secrets_manager.clone())),
            AwsServiceType::ParameterStore => Arc::new(ParameterStoreClient::new(&config, ctx, prefix)),
            AwsServiceType::CertificateManager => return Err(ProviderError::Invalid(spec.service.unsupported().unwrap_or_default())),
        })
    }

    /// `find.name.regexp`, compiled.
    pub(crate) fn find_matcher(query: &FindQuery) -> Result<Option<regex::Regex>, ProviderError> {
        query
            .name
            .as_ref()
            .filter(|n| !n.regexp.is_empty())
            .map(|n| {
                regex::Regex::new(&n.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp {:?}: {e}", n.regexp)))
            })
            .transpose()
    }

    /// sts:GetCallerIdentity: needs no IAM permission, so it proves the credentials (and every
    /// role in the chain) without assuming what the store may read.
    pub(crate) async fn caller_identity(sts: &aws_sdk_sts::Client, ctx: &ProviderContext) -> Result<(), ProviderError> {
        let call = async {
            sts.get_caller_identity()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::errors::from_sdk(e, "GetCallerIdentity", "(store credentials)"))
        };
        ctx.timed(crate::auth::STS, "GetCallerIdentity", call).await
    }
}
