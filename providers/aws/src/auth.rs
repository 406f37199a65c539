//! Credentials for a store: the base identity from `auth` (web identity, static keys from a
//! Secret, or the SDK default chain), then `additionalRoles` and `role` assumed in turn.
//!
//! Every provider here fetches fresh credentials when asked; the SDK's lazy identity cache in
//! front of each client asks again shortly before they expire. So one client, built once per
//! store, keeps working across session expiries and picks up rotated keys in the Secret.
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_sts::types::Tag as StsTag;
use sesame_provider_core::{CredentialSource, ProviderContext, ProviderError, SecretKeySelector, ServiceAccountSelector};

use crate::ClientOptions;
use crate::config::{AwsAuthSecretRef, AwsProvider};
use crate::errors;

/// The annotation naming the role a ServiceAccount's web identity assumes (IRSA).
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The annotation overriding the token audience.
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
/// The default audience of ServiceAccount tokens exchanged with STS.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// The role session name Sesame's sessions carry (CloudTrail shows it).
pub const SESSION_NAME: &str = "sesame-provider-aws";
pub(crate) const STS: &str = "AWS/STS";

/// The SDK configuration for a store: region, endpoints (explicit or from `AWS_ENDPOINT_URL*`),
/// retries, timeouts and the credential chain. Public so that the AWS generators (ECR, STS)
/// authenticate exactly as a store does.
pub async fn sdk_config(spec: &AwsProvider, ctx: &ProviderContext, opts: &ClientOptions) -> Result<SdkConfig, ProviderError> {
    let base: Option<SharedCredentialsProvider> = if let Some(jwt) = &spec.auth.jwt {
        let sts = aws_sdk_sts::Client::new(&loader(spec, opts).no_credentials().load().await);
        Some(SharedCredentialsProvider::new(WebIdentity::new(ctx, &jwt.service_account_ref, sts).await?))
    } else if let Some(refs) = &spec.auth.secret_ref {
        let keys = SecretRefCredentials { source: ctx.credentials.clone(), refs: refs.clone(), refresh: opts.secret_ref_refresh };
        keys.load().await?; // fail fast: a store whose Secret is missing is not Ready
        Some(SharedCredentialsProvider::new(keys))
    } else {
        None
    };
    let mut config = match base {
        Some(provider) => loader(spec, opts).credentials_provider(provider).load().await,
        None => loader(spec, opts).load().await, // the SDK default chain
    };
    for role in spec.additional_roles.iter().filter(|r| !r.is_empty()) {
        config = assume(config, ctx, Role { arn: role.clone(), ..Role::default() });
    }
    if let Some(role) = spec.role.as_deref().filter(|r| !r.is_empty()) {
        let role = Role {
            arn: role.to_string(),
            external_id: spec.external_id.clone().filter(|e| !e.is_empty()),
            tags: spec.assume_role_tags(&opts.session_origin),
            transitive_tag_keys: spec.transitive_tag_keys.clone(),
        };
        config = assume(config, ctx, role);
    }
    Ok(config)
}

fn loader(spec: &AwsProvider, opts: &ClientOptions) -> ConfigLoader {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(opts.retry_config()).timeout_config(opts.timeout_config());
    if !spec.region.is_empty() {
        loader = loader.region(Region::new(spec.region.clone()));
    }
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    loader
}

/// `config` with its credentials replaced by `role` assumed with them.
fn assume(config: SdkConfig, ctx: &ProviderContext, role: Role) -> SdkConfig {
    let link = AssumeRole { ctx: ctx.clone(), role, sts: aws_sdk_sts::Client::new(&config) };
    config.into_builder().credentials_provider(SharedCredentialsProvider::new(link)).build()
}

fn credentials_error(e: ProviderError) -> CredentialsError {
    CredentialsError::provider_error(e)
}

/// Static keys from a Kubernetes Secret, read again every few minutes.
struct SecretRefCredentials {
    source: Arc<dyn CredentialSource>,
    refs: AwsAuthSecretRef,
    refresh: Duration,
}

impl SecretRefCredentials {
    async fn load(&self) -> Result<Credentials, ProviderError> {
        let access_key = read_key(&*self.source, &self.refs.access_key_id, "accessKeyIDSecretRef").await?;
        let secret_key = read_key(&*self.source, &self.refs.secret_access_key, "secretAccessKeySecretRef").await?;
        let token = match &self.refs.session_token {
            Some(sel) => Some(read_key(&*self.source, sel, "sessionTokenSecretRef").await?),
            None => None,
        };
        Ok(Credentials::new(access_key, secret_key, token, Some(SystemTime::now() + self.refresh), "SecretRef"))
    }
}

async fn read_key(source: &dyn CredentialSource, sel: &SecretKeySelector, field: &str) -> Result<String, ProviderError> {
    let value = source.secret_key(sel, None).await.map_err(|e| match e {
        ProviderError::Auth(m) => ProviderError::Auth(format!("could not read {field}: {m}")),
        other => other,
    })?;
    let text =
        String::from_utf8(value.into_bytes()).map_err(|_| ProviderError::Auth(format!("{field} (Secret {}) is not UTF-8", sel.name)))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ProviderError::Auth(format!("{field} (Secret {}) is empty", sel.name)));
    }
    Ok(text.to_string())
}

impl fmt::Debug for SecretRefCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRefCredentials").field("refs", &self.refs).finish_non_exhaustive()
    }
}

impl ProvideCredentials for SecretRefCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move { self.load().await.map_err(credentials_error) })
    }
}

/// sts:AssumeRoleWithWebIdentity with a fresh token for a ServiceAccount on every refresh.
struct WebIdentity {
    ctx: ProviderContext,
    account: ServiceAccountSelector,
    role_arn: String,
    audiences: Vec<String>,
    sts: aws_sdk_sts::Client,
}

impl WebIdentity {
    async fn new(ctx: &ProviderContext, account: &ServiceAccountSelector, sts: aws_sdk_sts::Client) -> Result<Self, ProviderError> {
        let annotations: BTreeMap<String, String> = ctx.credentials.service_account_annotations(account).await?;
        let role_arn = annotations.get(ROLE_ARN_ANNOTATION).filter(|r| !r.is_empty()).cloned().ok_or_else(|| {
            ProviderError::Auth(format!(
                "an IAM role must be associated with ServiceAccount {}: annotation {ROLE_ARN_ANNOTATION} is missing",
                account.name
            ))
        })?;
        let audiences = token_audiences(&annotations, account);
        Ok(WebIdentity { ctx: ctx.clone(), account: account.clone(), role_arn, audiences, sts })
    }

    async fn load(&self) -> Result<Credentials, ProviderError> {
        let token = self.ctx.credentials.service_account_token(&self.account, &self.audiences, Some(3600)).await?;
        let call = async {
            self.sts
                .assume_role_with_web_identity()
                .role_arn(&self.role_arn)
                .role_session_name(SESSION_NAME)
                .web_identity_token(token)
                .send()
                .await
                .map_err(|e| errors::from_sdk(e, "AssumeRoleWithWebIdentity", &self.role_arn))
        };
        let out = self.ctx.timed(STS, "AssumeRoleWithWebIdentity", call).await?;
        into_credentials(out.credentials, "WebIdentity", &self.role_arn)
    }
}

/// The audiences of the web-identity token, as ESO: the ServiceAccount's
/// `eks.amazonaws.com/audience` annotation (default `sts.amazonaws.com`), then
/// `serviceAccountRef.audiences` appended.
pub(crate) fn token_audiences(annotations: &BTreeMap<String, String>, account: &ServiceAccountSelector) -> Vec<String> {
    let mut audiences =
        vec![annotations.get(AUDIENCE_ANNOTATION).filter(|a| !a.is_empty()).cloned().unwrap_or_else(|| DEFAULT_AUDIENCE.into())];
    for a in &account.audiences {
        if !audiences.contains(a) {
            audiences.push(a.clone());
        }
    }
    audiences
}

impl fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebIdentity").field("account", &self.account).field("role_arn", &self.role_arn).finish_non_exhaustive()
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move { self.load().await.map_err(credentials_error) })
    }
}

/// A role to assume and what to assume it with.
#[derive(Debug, Default)]
struct Role {
    arn: String,
    external_id: Option<String>,
    tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
}

/// sts:AssumeRole with the credentials of the STS client it holds (the previous link).
struct AssumeRole {
    ctx: ProviderContext,
    role: Role,
    sts: aws_sdk_sts::Client,
}

impl AssumeRole {
    async fn load(&self) -> Result<Credentials, ProviderError> {
        let role = &self.role;
        let tags = role
            .tags
            .iter()
            .map(|(k, v)| StsTag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::Invalid(format!("invalid sessionTags: {e}")))?;
        let call = async {
            self.sts
                .assume_role()
                .role_arn(&role.arn)
                .role_session_name(SESSION_NAME)
                .set_external_id(role.external_id.clone())
                .set_tags((!tags.is_empty()).then_some(tags))
                .set_transitive_tag_keys((!role.transitive_tag_keys.is_empty()).then(|| role.transitive_tag_keys.clone()))
                .send()
                .await
                .map_err(|e| errors::from_sdk(e, "AssumeRole", &role.arn))
        };
        let out = self.ctx.timed(STS, "AssumeRole", call).await?;
        into_credentials(out.credentials, "AssumeRole", &role.arn)
    }
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole").field("role", &self.role).finish_non_exhaustive()
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move { self.load().await.map_err(credentials_error) })
    }
}

fn into_credentials(
    creds: Option<aws_sdk_sts::types::Credentials>,
    provider: &'static str,
    role: &str,
) -> Result<Credentials, ProviderError> {
    let c = creds.ok_or_else(|| ProviderError::Auth(format!("STS returned no credentials for {role}")))?;
    let expiry = SystemTime::try_from(c.expiration).ok();
    Ok(Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), expiry, provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_audiences_are_appended_to_the_sts_audience() {
        let account = ServiceAccountSelector { name: "reader".into(), namespace: None, audiences: vec!["extra".into()] };
        assert_eq!(token_audiences(&BTreeMap::new(), &account), vec![DEFAULT_AUDIENCE.to_string(), "extra".into()]);
        let annotated: BTreeMap<String, String> = [(AUDIENCE_ANNOTATION.to_string(), "custom".to_string())].into();
        assert_eq!(token_audiences(&annotated, &account), vec!["custom".to_string(), "extra".into()]);
        let plain = ServiceAccountSelector { name: "reader".into(), ..Default::default() };
        assert_eq!(token_audiences(&BTreeMap::new(), &plain), vec![DEFAULT_AUDIENCE.to_string()]);
    }
}
