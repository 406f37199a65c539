use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The store's backend. Exactly one key must be set.
// Each config is boxed: inline, twelve provider configs made this struct (and every frame that
// decodes a SecretStore) tens of kilobytes, enough to overflow a worker stack in a debug build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct ProviderSpec {
    /// Static data held in the store itself, for demos and tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake: Option<Box<sesame_provider_fake::FakeProvider>>,
    /// AWS Secrets Manager or Systems Manager Parameter Store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<Box<sesame_provider_aws::AwsProvider>>,
    /// HashiCorp Vault or OpenBao (KV v1/v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<Box<sesame_provider_vault::VaultProvider>>,
    /// Google Cloud Secret Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcpsm: Option<Box<sesame_provider_gcp::GcpProvider>>,
    /// Azure Key Vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azurekv: Option<Box<sesame_provider_azure::AzureKvProvider>>,
    /// OpenBao (KV v1/v2), ESO's own `openBao` key; read-only as in ESO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_bao: Option<Box<sesame_provider_vault::OpenBaoProvider>>,
    /// Secrets of another namespace or another Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Box<sesame_provider_kubernetes::KubernetesProvider>>,
    /// A generic templated webhook (simple web APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Box<sesame_provider_webhook::WebhookProvider>>,
    /// GitLab CI/CD variables of a project and its groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<Box<sesame_provider_gitlab::GitlabProvider>>,
    /// Doppler: the secrets of one project config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doppler: Option<Box<sesame_provider_doppler::DopplerProvider>>,
    /// Infisical: the secrets of one project environment, after a machine-identity login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infisical: Option<Box<sesame_provider_infisical::InfisicalProvider>>,
    /// 1Password items through a 1Password Connect server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onepassword: Option<Box<sesame_provider_onepassword::OnePasswordProvider>>,
    /// Bitwarden Secrets Manager, through a bitwarden-sdk-server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitwardensecretsmanager: Option<Box<sesame_provider_bitwarden::BitwardenSecretsManagerProvider>>,
}

impl ProviderSpec {
    /// The key of the provider that is set, for messages and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderSpec { fake: Some(_), .. } => "fake",
            ProviderSpec { aws: Some(_), .. } => "aws",
            ProviderSpec { vault: Some(_), .. } => "vault",
            ProviderSpec { gcpsm: Some(_), .. } => "gcpsm",
            ProviderSpec { azurekv: Some(_), .. } => "azurekv",
            ProviderSpec { open_bao: Some(_), .. } => "openBao",
            ProviderSpec { kubernetes: Some(_), .. } => "kubernetes",
            ProviderSpec { webhook: Some(_), .. } => "webhook",
            ProviderSpec { gitlab: Some(_), .. } => "gitlab",
            ProviderSpec { doppler: Some(_), .. } => "doppler",
            ProviderSpec { infisical: Some(_), .. } => "infisical",
            ProviderSpec { onepassword: Some(_), .. } => "onepassword",
            ProviderSpec { bitwardensecretsmanager: Some(_), .. } => "bitwardensecretsmanager",
            _ => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every provider config stays behind a Box: the spec is decoded on tokio workers, whose 2 MiB
    /// stacks a spec holding every config inline overflowed in a debug build.
    #[test]
    fn the_provider_spec_holds_each_config_behind_a_pointer() {
        assert!(std::mem::size_of::<super::ProviderSpec>() <= 16 * std::mem::size_of::<usize>());
    }
}
