//! The Azure Key Vault provider: `spec.provider.azurekv`, field-compatible with ESO's
//! `AzureKVProvider` (external-secrets.io/v1).
//!
//! The configuration types below are always compiled (the CRD generator needs them); the client,
//! on the official `azure_security_keyvault_*` 1.x crates, sits behind the `client` feature.
//!
//! Remote keys are `NAME` or `secret/NAME` (the secret's value), `key/NAME` (the key as JWK JSON)
//! and `cert/NAME` (the certificate's DER bytes, as ESO returns them).
#![forbid(unsafe_code)]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderError, SecretKeySelector, ServiceAccountSelector, checks, ns_ref, referent_fields};

/// Configures a store to sync secrets from Azure Key Vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureKvProvider {
    /// How to authenticate to the Key Vault service: `ServicePrincipal` (default: tenantId plus
    /// clientId and clientSecret from `authSecretRef`), `ManagedIdentity` (the pod's or node's
    /// managed identity) or `WorkloadIdentity` (a Kubernetes ServiceAccount token exchanged for
    /// an Entra ID token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<AzureAuthType>,
    /// The URL of the vault the secrets are read from, e.g. `https://my-vault.vault.azure.net`.
    pub vault_url: String,
    /// The Entra ID tenant to authenticate against. Required for ServicePrincipal; optional for
    /// WorkloadIdentity (else `authSecretRef.tenantId`, the ServiceAccount annotation
    /// `azure.workload.identity/tenant-id` or `AZURE_TENANT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The Azure cloud whose endpoints are used: `PublicCloud` (default), `USGovernmentCloud`,
    /// `ChinaCloud`, `GermanCloud` (discontinued, rejected) or `AzureStackCloud` (requires
    /// `customCloudConfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_type: Option<AzureEnvironmentType>,
    /// Where the service principal's credentials are read from. Required for ServicePrincipal;
    /// for WorkloadIdentity it may carry the clientId and tenantId instead of the ServiceAccount
    /// annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret_ref: Option<AzureKvAuth>,
    /// The ServiceAccount whose token is exchanged for an Entra ID token with WorkloadIdentity.
    /// When omitted, the controller's own federated token is used (`AZURE_CLIENT_ID`,
    /// `AZURE_TENANT_ID` and `AZURE_FEDERATED_TOKEN_FILE`, set by the workload identity webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// Selects one of several managed identities assigned to the pod or node: a client ID, or an
    /// Azure resource ID (`/subscriptions/...`) of a user-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// Accepted for compatibility with ESO, where it switches from the legacy go-autorest client
    /// to the current Azure SDK. Sesame always uses the current SDK, so it has no effect here.
    #[serde(default, rename = "useAzureSDK", skip_serializing_if = "Option::is_none")]
    pub use_azure_sdk: Option<bool>,
    /// Custom endpoints for private clouds (Azure Stack Hub / Edge, sovereign deployments).
    /// Required when `environmentType` is `AzureStackCloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_cloud_config: Option<AzureCustomCloudConfig>,
}

impl AzureKvProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let auth = self.auth_secret_ref.as_ref();
        referent_fields(&[
            ("authSecretRef.clientId", ns_ref(auth.and_then(|a| a.client_id.as_ref()))),
            ("authSecretRef.tenantId", ns_ref(auth.and_then(|a| a.tenant_id.as_ref()))),
            ("authSecretRef.clientSecret", ns_ref(auth.and_then(|a| a.client_secret.as_ref()))),
            ("authSecretRef.clientCertificate", ns_ref(auth.and_then(|a| a.client_certificate.as_ref()))),
            ("serviceAccountRef", ns_ref(self.service_account_ref.as_ref())),
        ])
    }

    /// The fields that reach a URL: the vault (which receives the access token) and the Entra ID
    /// authority (which receives the client secret or assertion).
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        checks::base_url("vaultUrl", self.vault_url.trim(), &["https"])?;
        if let Some(custom) = &self.custom_cloud_config {
            let host = custom.active_directory_endpoint.trim();
            if !host.is_empty() {
                checks::base_url("customCloudConfig.activeDirectoryEndpoint", host, &["https"])?;
            }
        }
        Ok(())
    }

    /// How the store authenticates as the controller itself, if it does.
    pub fn controller_identity(&self) -> Option<&'static str> {
        match self.auth_type.unwrap_or_default() {
            AzureAuthType::ManagedIdentity => Some("the managed identity of the controller's pod or node (authType ManagedIdentity)"),
            AzureAuthType::WorkloadIdentity if self.service_account_ref.is_none() => {
                Some("the controller's own workload identity (authType WorkloadIdentity without serviceAccountRef)")
            }
            _ => None,
        }
    }
}

/// How a store authenticates to Azure Key Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum AzureAuthType {
    /// A service principal: tenantId, clientId and clientSecret.
    #[default]
    ServicePrincipal,
    /// The managed identity assigned to the pod or node (Azure Instance Metadata Service).
    ManagedIdentity,
    /// A Kubernetes ServiceAccount token federated with an Entra ID application.
    WorkloadIdentity,
}

/// The Azure cloud environment whose Entra ID (login) endpoint is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub enum AzureEnvironmentType {
    /// Azure public cloud: `https://login.microsoftonline.com`.
    #[default]
    PublicCloud,
    /// Azure US Government: `https://login.microsoftonline.us`.
    USGovernmentCloud,
    /// Azure China (21Vianet): `https://login.chinacloudapi.cn`.
    ChinaCloud,
    /// Microsoft Cloud Deutschland, discontinued in 2021; rejected with an explanation.
    GermanCloud,
    /// Azure Stack Hub or Edge; the endpoints come from `customCloudConfig`.
    AzureStackCloud,
}

/// Credentials of a service principal (or the identifiers of a federated application), each read
/// from a key of a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureKvAuth {
    /// The client (application) ID of the service principal or federated application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<SecretKeySelector>,
    /// The tenant ID, for WorkloadIdentity when it is not set on the store or the ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<SecretKeySelector>,
    /// The client secret of the service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretKeySelector>,
    /// A PEM bundle with the service principal's certificate and its RSA private key (PKCS#8
    /// or PKCS#1), instead of a client secret. PKCS#12 is not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<SecretKeySelector>,
}

/// Endpoints of a private or sovereign Azure cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureCustomCloudConfig {
    /// The Entra ID (Azure AD) authority host tokens are requested from, e.g.
    /// `https://login.microsoftonline.com/`. Must be HTTPS.
    pub active_directory_endpoint: String,
    /// The Key Vault service endpoint. Informational: the token audience is taken from the
    /// vault's authentication challenge, and requests go to `vaultUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault_endpoint: Option<String>,
    /// The DNS suffix of Key Vault URLs in this cloud. Informational, as `keyVaultEndpoint`.
    #[serde(default, rename = "keyVaultDNSSuffix", skip_serializing_if = "Option::is_none")]
    pub key_vault_dns_suffix: Option<String>,
    /// The Azure Resource Manager endpoint. Not used for reading secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_manager_endpoint: Option<String>,
    /// The audience of the ServiceAccount token used with WorkloadIdentity; must match the
    /// federated credential. Defaults to `api://AzureADTokenExchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::{
    ANNOTATION_CLIENT_ID, ANNOTATION_TENANT_ID, AzureKvClient, DEFAULT_AUDIENCE, ENV_EXTRA_CA_FILE, ENV_PLAIN_HTTP_PROXY, ENV_RESOLVE,
    HttpSettings, PROVIDER, build, build_with, entra_token,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_stores_are_valid_azurekv_specs() {
        let examples = [
            include_str!("../../../examples/azure/secretstore.yaml"),
            include_str!("../../../examples/azure/clustersecretstore-workload-identity.yaml"),
        ];
        let mut stores = 0;
        for text in examples {
            let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).unwrap();
            for doc in docs.iter().filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("SecretStore"))) {
                assert_eq!(doc["apiVersion"], "external-secrets.io/v1");
                let spec: AzureKvProvider = serde_json::from_value(doc["spec"]["provider"]["azurekv"].clone()).unwrap();
                assert!(spec.vault_url.starts_with("https://"));
                stores += 1;
            }
        }
        assert_eq!(stores, 2);
    }

    #[test]
    fn the_schema_requires_only_the_vault_url_and_describes_every_field() {
        let schema = serde_json::to_value(schemars::schema_for!(AzureKvProvider)).unwrap();
        assert_eq!(schema["required"], serde_json::json!(["vaultUrl"]));
        let properties = schema["properties"].as_object().unwrap();
        for name in [
            "authType",
            "vaultUrl",
            "tenantId",
            "environmentType",
            "authSecretRef",
            "serviceAccountRef",
            "identityId",
            "useAzureSDK",
            "customCloudConfig",
        ] {
            let field = &properties[name];
            let described = field.get("description").and_then(|d| d.as_str()).is_some_and(|d| !d.is_empty());
            assert!(described, "{name} has no description: {field}");
        }
    }

    #[test]
    fn hostile_vault_and_authority_urls_are_refused() {
        let spec = |vault: &str| AzureKvProvider { vault_url: vault.into(), ..Default::default() };
        spec("https://my-vault.vault.azure.net/").check_urls().unwrap();
        for bad in
            ["https://evil.example#.vault.azure.net", "https://x@evil.example", "http://v.vault.azure.net", "https://evil.example/x?y"]
        {
            assert!(matches!(spec(bad).check_urls(), Err(ProviderError::Invalid(m)) if m.contains("vaultUrl")), "{bad}");
        }
        let custom = AzureKvProvider {
            custom_cloud_config: Some(AzureCustomCloudConfig {
                active_directory_endpoint: "https://evil.example/x#".into(),
                ..Default::default()
            }),
            ..spec("https://v.vault.azure.net")
        };
        assert!(matches!(custom.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("activeDirectoryEndpoint")));
    }

    #[test]
    fn managed_and_own_workload_identity_are_the_controllers_identity() {
        let spec = |auth: AzureAuthType, sa: bool| AzureKvProvider {
            auth_type: Some(auth),
            service_account_ref: sa.then(|| ServiceAccountSelector { name: "sa".into(), ..Default::default() }),
            ..Default::default()
        };
        assert!(spec(AzureAuthType::ManagedIdentity, false).controller_identity().is_some());
        assert!(spec(AzureAuthType::WorkloadIdentity, false).controller_identity().is_some());
        assert!(spec(AzureAuthType::WorkloadIdentity, true).controller_identity().is_none());
        assert!(spec(AzureAuthType::ServicePrincipal, false).controller_identity().is_none());
        assert_eq!(spec(AzureAuthType::WorkloadIdentity, true).referent_refs(), vec!["serviceAccountRef"]);
    }

    #[test]
    fn reads_an_eso_store_spec() {
        let spec: AzureKvProvider = serde_json::from_value(serde_json::json!({
            "vaultUrl": "https://v.vault.azure.net",
            "tenantId": "t",
            "authType": "WorkloadIdentity",
            "environmentType": "ChinaCloud",
            "useAzureSDK": true,
            "authSecretRef": {"clientId": {"name": "s", "key": "id"}},
            "serviceAccountRef": {"name": "sa", "audiences": ["x"]},
            "customCloudConfig": {"activeDirectoryEndpoint": "https://login", "keyVaultDNSSuffix": ".v"}
        }))
        .unwrap();
        assert_eq!(spec.auth_type, Some(AzureAuthType::WorkloadIdentity));
        assert_eq!(spec.environment_type, Some(AzureEnvironmentType::ChinaCloud));
        assert_eq!(spec.custom_cloud_config.unwrap().key_vault_dns_suffix.as_deref(), Some(".v"));
        assert_eq!(spec.service_account_ref.unwrap().audiences, vec!["x".to_string()]);
    }
}
