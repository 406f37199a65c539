//! Entra ID credentials for the three `authType`s, built once per store. Each credential caches
//! its access tokens per scope and refreshes them before they expire (azure_identity's
//! `TokenCache`), so every ExternalSecret of a store shares one token per identity.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use sesame_provider_core::{CredentialSource, ProviderContext, ProviderError, ServiceAccountSelector};

use super::certificate::CertificateAssertion;
use crate::{AzureAuthType, AzureEnvironmentType, AzureKvProvider};

/// The audience Entra ID expects on a federated (workload identity) token.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";
/// ServiceAccount annotation naming the federated application's client ID.
pub const ANNOTATION_CLIENT_ID: &str = "azure.workload.identity/client-id";
/// ServiceAccount annotation naming the tenant.
pub const ANNOTATION_TENANT_ID: &str = "azure.workload.identity/tenant-id";

/// The Entra ID authority for the store's cloud.
pub(crate) fn cloud(spec: &AzureKvProvider) -> Result<CloudConfiguration, ProviderError> {
    let env = spec.environment_type.unwrap_or_default();
    if env == AzureEnvironmentType::GermanCloud {
        return Err(ProviderError::Invalid(
            "environmentType GermanCloud: Microsoft Cloud Deutschland was discontinued in 2021; use \
             AzureStackCloud with customCloudConfig or a public region"
                .into(),
        ));
    }
    if let Some(custom) = &spec.custom_cloud_config {
        let host = custom.active_directory_endpoint.trim();
        if host.is_empty() {
            return Err(ProviderError::Invalid("customCloudConfig.activeDirectoryEndpoint is required".into()));
        }
        if !host.starts_with("https://") {
            return Err(ProviderError::Invalid(format!("customCloudConfig.activeDirectoryEndpoint {host} must use https")));
        }
        let mut config = CustomConfiguration::default();
        config.authority_host = host.to_string();
        return Ok(CloudConfiguration::Custom(config));
    }
    Ok(match env {
        AzureEnvironmentType::PublicCloud => CloudConfiguration::AzurePublic,
        AzureEnvironmentType::USGovernmentCloud => CloudConfiguration::AzureGovernment,
        AzureEnvironmentType::ChinaCloud => CloudConfiguration::AzureChina,
        AzureEnvironmentType::AzureStackCloud | AzureEnvironmentType::GermanCloud => {
            return Err(ProviderError::Invalid("environmentType AzureStackCloud requires customCloudConfig".into()));
        }
    })
}

/// The credential for the store's `authType`. Reads the Kubernetes objects it needs now, so a
/// missing Secret or annotation fails the build (and the store's Ready condition) at once.
pub(crate) async fn credential(
    spec: &AzureKvProvider,
    ctx: &ProviderContext,
    client_options: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let invalid = |e: azure_core::Error| ProviderError::Invalid(format!("cannot create the credential: {e}"));
    match spec.auth_type.unwrap_or_default() {
        AzureAuthType::ServicePrincipal => {
            let (tenant, client_id, material) = service_principal(spec, ctx.credentials.as_ref()).await?;
            match material {
                ClientCredential::Secret(secret) => {
                    let options = ClientSecretCredentialOptions { client_options };
                    let cred = ClientSecretCredential::new(&tenant, client_id, Secret::new(secret), Some(options)).map_err(invalid)?;
                    Ok(cred)
                }
                ClientCredential::Certificate(pem) => {
                    let cloud = client_options.cloud.clone().unwrap_or_default();
                    let assertion = CertificateAssertion::new(&pem, &tenant, client_id.clone(), &cloud)?;
                    let options = ClientAssertionCredentialOptions { client_options };
                    let cred = ClientAssertionCredential::new(tenant, client_id, assertion, Some(options)).map_err(invalid)?;
                    Ok(cred)
                }
            }
        }
        AzureAuthType::ManagedIdentity => {
            let user_assigned_id = spec.identity_id.as_ref().filter(|id| !id.is_empty()).map(|id| {
                if id.starts_with("/subscriptions/") {
                    UserAssignedId::ResourceId(id.clone())
                } else {
                    UserAssignedId::ClientId(id.clone())
                }
            });
            let options = ManagedIdentityCredentialOptions { user_assigned_id, client_options };
            Ok(ManagedIdentityCredential::new(Some(options)).map_err(invalid)?)
        }
        AzureAuthType::WorkloadIdentity => {
            let credential_options = ClientAssertionCredentialOptions { client_options };
            let Some(sa) = &spec.service_account_ref else {
                // The controller's own federated token, injected by the workload identity webhook.
                let options =
                    WorkloadIdentityCredentialOptions { credential_options, tenant_id: spec.tenant_id.clone(), ..Default::default() };
                return Ok(WorkloadIdentityCredential::new(Some(options)).map_err(|e| {
                    ProviderError::Invalid(format!(
                        "WorkloadIdentity without serviceAccountRef needs AZURE_CLIENT_ID, AZURE_TENANT_ID \
                         and AZURE_FEDERATED_TOKEN_FILE: {e}"
                    ))
                })?);
            };
            let (tenant, client_id) = federated_ids(spec, sa, ctx.credentials.as_ref()).await?;
            let audience = spec.custom_cloud_config.as_ref().and_then(|c| c.audience.clone());
            let audiences = token_audiences(audience, sa);
            let assertion = ServiceAccountAssertion { credentials: ctx.credentials.clone(), sa: sa.clone(), audiences };
            let cred = ClientAssertionCredential::new(tenant, client_id, assertion, Some(credential_options)).map_err(invalid)?;
            Ok(cred)
        }
    }
}

/// The audiences of the ServiceAccount token, as ESO: `customCloudConfig.audience` (default
/// `api://AzureADTokenExchange`), then `serviceAccountRef.audiences` appended.
pub(crate) fn token_audiences(audience: Option<String>, sa: &ServiceAccountSelector) -> Vec<String> {
    let mut audiences = vec![audience.filter(|a| !a.is_empty()).unwrap_or_else(|| DEFAULT_AUDIENCE.to_string())];
    for a in &sa.audiences {
        if !audiences.contains(a) {
            audiences.push(a.clone());
        }
    }
    audiences
}

/// How a service principal proves itself.
enum ClientCredential {
    Secret(String),
    /// PEM: the certificate and its RSA private key.
    Certificate(Vec<u8>),
}

async fn service_principal(
    spec: &AzureKvProvider,
    credentials: &dyn CredentialSource,
) -> Result<(String, String, ClientCredential), ProviderError> {
    let tenant = spec.tenant_id.clone().filter(|t| !t.is_empty());
    let tenant = tenant.ok_or_else(|| ProviderError::Invalid("missing tenantId in store config".into()))?;
    let auth = spec.auth_secret_ref.as_ref().ok_or_else(|| ProviderError::Invalid("missing authSecretRef in store config".into()))?;
    let client_id =
        auth.client_id.as_ref().ok_or_else(|| ProviderError::Invalid("missing authSecretRef.clientId in store config".into()))?;
    let material = match (&auth.client_secret, &auth.client_certificate) {
        (Some(_), Some(_)) => {
            return Err(ProviderError::Invalid("both clientSecret and clientCertificate set in authSecretRef".into()));
        }
        (Some(secret), None) => ClientCredential::Secret(text(credentials.secret_key(secret, None).await?, "authSecretRef.clientSecret")?),
        (None, Some(cert)) => ClientCredential::Certificate(credentials.secret_key(cert, None).await?.into_bytes()),
        (None, None) => {
            return Err(ProviderError::Invalid(
                "missing authSecretRef.clientSecret or authSecretRef.clientCertificate in store config".into(),
            ));
        }
    };
    let client_id = text(credentials.secret_key(client_id, None).await?, "authSecretRef.clientId")?;
    Ok((tenant, client_id, material))
}

/// Client and tenant IDs of a federated application, as ESO finds them: `authSecretRef` or the
/// ServiceAccount's annotations (never both), then the store's `tenantId`, then `AZURE_TENANT_ID`.
async fn federated_ids(
    spec: &AzureKvProvider,
    sa: &ServiceAccountSelector,
    credentials: &dyn CredentialSource,
) -> Result<(String, String), ProviderError> {
    let annotations: BTreeMap<String, String> = credentials.service_account_annotations(sa).await?;
    let mut client_id = None;
    let mut tenant = None;
    if let Some(auth) = &spec.auth_secret_ref {
        let id = auth.client_id.as_ref().ok_or_else(|| ProviderError::Invalid("authSecretRef is set but has no clientId".into()))?;
        client_id = Some(text(credentials.secret_key(id, None).await?, "authSecretRef.clientId")?);
        if let Some(t) = &auth.tenant_id {
            tenant = Some(text(credentials.secret_key(t, None).await?, "authSecretRef.tenantId")?);
        }
    }
    if let Some(id) = annotations.get(ANNOTATION_CLIENT_ID) {
        if client_id.is_some() {
            return Err(ProviderError::Invalid("multiple clientID found: check authSecretRef and the ServiceAccount annotation".into()));
        }
        client_id = Some(id.clone());
    }
    let client_id = client_id.ok_or_else(|| {
        ProviderError::Invalid(format!(
            "missing clientID: neither authSecretRef.clientId nor the ServiceAccount annotation {ANNOTATION_CLIENT_ID} is set"
        ))
    })?;
    if tenant.is_none() {
        tenant = spec.tenant_id.clone().filter(|t| !t.is_empty());
    }
    if let Some(t) = annotations.get(ANNOTATION_TENANT_ID) {
        if tenant.is_some() {
            return Err(ProviderError::Invalid(
                "multiple tenantID found: check authSecretRef, spec.provider.azurekv.tenantId and the ServiceAccount annotation".into(),
            ));
        }
        tenant = Some(t.clone());
    }
    let tenant = tenant
        .or_else(|| std::env::var("AZURE_TENANT_ID").ok().filter(|t| !t.is_empty()))
        .ok_or_else(|| ProviderError::Invalid("missing tenantId in store config".into()))?;
    Ok((tenant, client_id))
}

fn text(value: sesame_provider_core::SecretValue, what: &str) -> Result<String, ProviderError> {
    String::from_utf8(value.into_bytes()).map_err(|_| ProviderError::Invalid(format!("{what} is not UTF-8")))
}

/// Supplies a fresh ServiceAccount token (TokenRequest) whenever the credential needs a new
/// Entra ID token; between refreshes the credential's cache answers.
struct ServiceAccountAssertion {
    credentials: Arc<dyn CredentialSource>,
    sa: ServiceAccountSelector,
    audiences: Vec<String>,
}

impl std::fmt::Debug for ServiceAccountAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountAssertion").field("serviceAccount", &self.sa.name).finish_non_exhaustive()
    }
}

#[async_trait]
impl ClientAssertion for ServiceAccountAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.credentials.service_account_token(&self.sa, &self.audiences, None).await.map_err(|e| {
            azure_core::Error::with_message(ErrorKind::Credential, format!("cannot get a token for ServiceAccount {}: {e}", self.sa.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_audiences_are_appended_to_the_token_exchange_audience() {
        let sa = ServiceAccountSelector { name: "sa".into(), namespace: None, audiences: vec!["extra".into()] };
        assert_eq!(token_audiences(None, &sa), vec![DEFAULT_AUDIENCE.to_string(), "extra".into()]);
        assert_eq!(token_audiences(Some("custom".into()), &sa), vec!["custom".to_string(), "extra".into()]);
    }
}
