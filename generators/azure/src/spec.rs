//! `ACRAccessTokenSpec`: field for field ESO's `generators.external-secrets.io/v1alpha1` kind.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_azure::AzureEnvironmentType;
use sesame_provider_core::{SecretKeySelector, ServiceAccountSelector};

/// ACRAccessTokenSpec defines how to generate the access token e.g. how to authenticate and
/// which registry to use. See <https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md#overview>.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrAccessTokenSpec {
    /// How to authenticate with Entra ID: exactly one of `servicePrincipal`, `managedIdentity`,
    /// `workloadIdentity`.
    pub auth: AcrAuth,
    /// TenantID configures the Azure Tenant to send requests to. Required for ServicePrincipal
    /// auth type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The domain name of the ACR registry, e.g. `foobarexample.azurecr.io`.
    pub registry: String,
    /// The scope for the access token, e.g. pull/push access for a repository
    /// (`repository:my-repository:pull,push`). If not provided it will return a refresh token
    /// that has full scope. There is no wildcard: pin it down to the repository level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// EnvironmentType specifies the Azure cloud environment endpoints to use for connecting and
    /// authenticating with Azure: PublicCloud (default), USGovernmentCloud, ChinaCloud.
    #[serde(default)]
    pub environment_type: AzureEnvironmentType,
}

/// ACRAuth defines the authentication methods for Azure Container Registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrAuth {
    /// ServicePrincipal uses Azure Service Principal credentials to authenticate with Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal: Option<AcrServicePrincipalAuth>,
    /// ManagedIdentity uses Azure Managed Identity to authenticate with Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<AcrManagedIdentityAuth>,
    /// WorkloadIdentity uses Azure Workload Identity to authenticate with Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<AcrWorkloadIdentityAuth>,
}

/// Service Principal authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrServicePrincipalAuth {
    /// Static credentials stored in a Secret.
    pub secret_ref: AcrServicePrincipalSecretRef,
}

/// The Secret keys holding a service principal's credentials (in the generator's namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrServicePrincipalSecretRef {
    /// The Azure clientId of the service principle used for authentication.
    #[serde(default)]
    pub client_id: SecretKeySelector,
    /// The Azure ClientSecret of the service principle used for authentication.
    #[serde(default)]
    pub client_secret: SecretKeySelector,
}

/// Managed Identity authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrManagedIdentityAuth {
    /// If multiple Managed Identity is assigned to the pod, you can select the one to be used
    /// (a client ID, or a resource ID starting with `/subscriptions/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
}

/// Workload Identity authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcrWorkloadIdentityAuth {
    /// ServiceAccountRef specified the service account that should be used when authenticating
    /// with WorkloadIdentity (its `azure.workload.identity/client-id` and `tenant-id`
    /// annotations name the application). Without it, the controller's own federated token
    /// (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}
