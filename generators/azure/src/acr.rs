//! The ACRAccessToken generator: the spec mapped onto an Azure Key Vault store's auth, an
//! Entra ID token for Azure Resource Manager, then ACR's exchange.
use std::collections::BTreeMap;

use async_trait::async_trait;
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_azure::{AzureAuthType, AzureEnvironmentType, AzureKvAuth, AzureKvProvider, HttpSettings};
use sesame_provider_core::checks;

use crate::AcrAccessTokenSpec;
use crate::exchange;

/// The user name ACR expects with an ACR token.
const USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// The ACRAccessToken generator.
#[derive(Debug, Clone)]
pub struct AcrAccessToken {
    store: AzureKvProvider,
    /// The Entra ID scope asked for, as ESO asks for it per auth method.
    aad_scope: &'static str,
    registry: String,
    tenant: String,
    scope: Option<String>,
    http: Option<HttpSettings>,
}

impl AcrAccessToken {
    pub fn new(spec: AcrAccessTokenSpec) -> Result<Self, GeneratorError> {
        let invalid = |why: String| GeneratorError::Invalid(format!("ACRAccessToken: {why}"));
        let registry = spec.registry.trim().to_ascii_lowercase();
        if registry.is_empty() || registry.contains(['/', '@', ':']) {
            return Err(invalid(format!("registry {:?} must be a host name such as example.azurecr.io", spec.registry)));
        }
        checks::base_url("registry", &format!("https://{registry}"), &["https"])?;
        let env = spec.environment_type;
        let (arm, management) = match env {
            AzureEnvironmentType::PublicCloud => ("https://management.azure.com/.default", "https://management.core.windows.net//.default"),
            AzureEnvironmentType::USGovernmentCloud => {
                ("https://management.usgovcloudapi.net/.default", "https://management.core.usgovcloudapi.net//.default")
            }
            AzureEnvironmentType::ChinaCloud => {
                ("https://management.chinacloudapi.cn/.default", "https://management.core.chinacloudapi.cn//.default")
            }
            other => return Err(invalid(format!("environmentType {other:?} is not supported for ACR tokens"))),
        };
        let tenant_id = spec.tenant_id.clone().filter(|t| !t.is_empty());
        let mut store = AzureKvProvider { environment_type: Some(env), ..Default::default() };
        let auth = &spec.auth;
        let methods = [auth.service_principal.is_some(), auth.managed_identity.is_some(), auth.workload_identity.is_some()];
        if methods.iter().filter(|m| **m).count() != 1 {
            return Err(invalid("auth must set exactly one of servicePrincipal, managedIdentity, workloadIdentity".into()));
        }
        let aad_scope = if let Some(sp) = &auth.service_principal {
            if tenant_id.is_none() {
                return Err(invalid("tenantId is required with auth.servicePrincipal".into()));
            }
            for (field, sel) in [("clientId", &sp.secret_ref.client_id), ("clientSecret", &sp.secret_ref.client_secret)] {
                if sel.name.is_empty() || sel.key.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(format!("auth.servicePrincipal.secretRef.{field} needs a name and a key")));
                }
            }
            store.auth_type = Some(AzureAuthType::ServicePrincipal);
            store.tenant_id = tenant_id.clone();
            // The generator's Secrets are in its own namespace.
            let local =
                |s: &sesame_provider_core::SecretKeySelector| sesame_provider_core::SecretKeySelector { namespace: None, ..s.clone() };
            store.auth_secret_ref = Some(AzureKvAuth {
                client_id: Some(local(&sp.secret_ref.client_id)),
                client_secret: Some(local(&sp.secret_ref.client_secret)),
                ..Default::default()
            });
            arm
        } else if let Some(mi) = &auth.managed_identity {
            store.auth_type = Some(AzureAuthType::ManagedIdentity);
            store.identity_id = mi.identity_id.clone();
            arm
        } else {
            // As ESO: the application and tenant come from the ServiceAccount's annotations
            // (or the controller's environment); `tenantId` only names the registry's tenant.
            store.auth_type = Some(AzureAuthType::WorkloadIdentity);
            store.service_account_ref = auth
                .workload_identity
                .as_ref()
                .and_then(|w| w.service_account_ref.clone())
                .map(|sa| sesame_provider_core::ServiceAccountSelector { namespace: None, ..sa });
            management
        };
        let scope = spec.scope.filter(|s| !s.is_empty());
        Ok(AcrAccessToken { store, aad_scope, registry, tenant: tenant_id.unwrap_or_default(), scope, http: None })
    }

    /// Network settings (tests: the fake's CA and pinned host names). Default: `SESAME_AZURE_*`.
    pub fn with_http(mut self, http: HttpSettings) -> Self {
        self.http = Some(http);
        self
    }
}

#[async_trait]
impl Generator for AcrAccessToken {
    fn kind(&self) -> &'static str {
        "ACRAccessToken"
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let http = match &self.http {
            Some(h) => h.clone(),
            None => HttpSettings::from_env()?,
        };
        let aad = sesame_provider_azure::entra_token(&self.store, &ctx.provider, &http, self.aad_scope).await?;
        let client = http.http_client()?;
        let calls = &ctx.provider;
        let refresh =
            calls.timed("Azure/ACR", "ExchangeRefreshToken", exchange::refresh_token(&client, &self.registry, &self.tenant, &aad)).await?;
        let password = match &self.scope {
            Some(scope) => {
                calls.timed("Azure/ACR", "GetAccessToken", exchange::access_token(&client, &self.registry, scope, &refresh)).await?
            }
            None => refresh,
        };
        let data =
            BTreeMap::from([("username".to_string(), USERNAME.as_bytes().to_vec()), ("password".to_string(), password.into_bytes())]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(json: serde_json::Value) -> Result<AcrAccessToken, GeneratorError> {
        AcrAccessToken::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn each_auth_maps_onto_the_store_auth_and_eso_scope() {
        let sp = build(serde_json::json!({"registry": "Example.azurecr.io", "tenantId": "t1", "auth": {"servicePrincipal": {"secretRef": {
            "clientId": {"name": "sp", "key": "id"}, "clientSecret": {"name": "sp", "key": "secret"}}}}}))
        .unwrap();
        assert_eq!(
            (sp.registry.as_str(), sp.aad_scope, sp.store.tenant_id.as_deref()),
            ("example.azurecr.io", "https://management.azure.com/.default", Some("t1"))
        );
        let mi = build(serde_json::json!({"registry": "r.azurecr.cn", "environmentType": "ChinaCloud", "auth": {"managedIdentity": {"identityId": "c1"}}})).unwrap();
        assert_eq!((mi.aad_scope, mi.store.identity_id.as_deref()), ("https://management.chinacloudapi.cn/.default", Some("c1")));
        let wi = build(serde_json::json!({"registry": "r.azurecr.io", "tenantId": "t1", "scope": "repository:app:pull",
            "auth": {"workloadIdentity": {"serviceAccountRef": {"name": "puller"}}}}))
        .unwrap();
        assert_eq!(
            (wi.aad_scope, wi.store.tenant_id.as_deref(), wi.scope.as_deref()),
            ("https://management.core.windows.net//.default", None, Some("repository:app:pull"))
        );
    }

    #[test]
    fn what_cannot_work_is_refused_at_once() {
        let mi = serde_json::json!({"managedIdentity": {}});
        for (bad, why) in [
            (serde_json::json!({"registry": "evil.example/x", "auth": mi}), "host name"),
            (serde_json::json!({"registry": "u@evil.example", "auth": mi}), "host name"),
            (serde_json::json!({"registry": "", "auth": mi}), "host name"),
            (serde_json::json!({"registry": "r.azurecr.io", "auth": {}}), "exactly one"),
            (serde_json::json!({"registry": "r.azurecr.io", "auth": {"managedIdentity": {}, "workloadIdentity": {}}}), "exactly one"),
            (serde_json::json!({"registry": "r.azurecr.io", "auth": {"servicePrincipal": {"secretRef": {}}}}), "tenantId"),
            (serde_json::json!({"registry": "r.azurecr.io", "tenantId": "t", "auth": {"servicePrincipal": {"secretRef": {}}}}), "clientId"),
            (serde_json::json!({"registry": "r.azurecr.io", "environmentType": "AzureStackCloud", "auth": mi}), "environmentType"),
        ] {
            let err = build(bad.clone()).unwrap_err();
            assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains(why)), "{bad}: {err}");
        }
        let spec: AcrAccessTokenSpec = serde_json::from_value(serde_json::json!({"registry": "r", "auth": mi})).unwrap();
        assert_eq!(spec.environment_type, AzureEnvironmentType::PublicCloud, "the default cloud");
    }
}
