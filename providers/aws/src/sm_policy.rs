//! PushSecret `metadata.spec.resourcePolicy` on Secrets Manager, as ESO 2.9: the policy JSON comes
//! from a key of a ConfigMap or Secret in the PushSecret's namespace (`policySourceRef`); a new
//! secret gets it after CreateSecret; on an existing one it is put only when it differs (compared
//! as JSON), and removed when the metadata names none or the source is empty.
use serde::Deserialize;
use sesame_provider_core::{CaProvider, CaProviderKind, ProviderError};

use crate::errors;
use crate::secrets_manager::{PROVIDER, SecretsManagerClient};

/// Secrets Manager's limit on a resource policy.
const MAX_POLICY: usize = 20 * 1024;

/// `resourcePolicy` of ESO's Secrets Manager `PushSecretMetadata`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ResourcePolicy {
    #[serde(default)]
    block_public_policy: Option<bool>,
    #[serde(default)]
    policy_source_ref: Option<PolicySourceRef>,
}

/// Where the policy JSON is: `kind` ConfigMap or Secret, in the PushSecret's namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySourceRef {
    kind: String,
    name: String,
    key: String,
}

impl SecretsManagerClient {
    /// The policy JSON the metadata names; None when it names none.
    async fn resolve_policy(&self, policy: &ResourcePolicy) -> Result<Option<String>, ProviderError> {
        let Some(source) = &policy.policy_source_ref else { return Ok(None) };
        let kind = match source.kind.as_str() {
            "ConfigMap" => CaProviderKind::ConfigMap,
            "Secret" => CaProviderKind::Secret,
            other => {
                return Err(ProviderError::Invalid(format!(
                    "resourcePolicy.policySourceRef: unsupported kind {other:?} (ConfigMap or Secret)"
                )));
            }
        };
        // The credential source reads one key of a Secret or ConfigMap under the store's
        // tenancy rules: the same read a CA bundle needs.
        let key = CaProvider { kind, name: source.name.clone(), key: Some(source.key.clone()), namespace: None };
        let bytes = self.ctx.credentials.ca_bundle(&key).await?;
        if bytes.len() > MAX_POLICY {
            return Err(ProviderError::Invalid(format!(
                "resourcePolicy from {} {}: larger than Secrets Manager's {MAX_POLICY} bytes",
                source.kind, source.name
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| ProviderError::Invalid(format!("resourcePolicy from {} {} is not UTF-8", source.kind, source.name)))?;
        Ok(Some(text).filter(|t| !t.trim().is_empty()))
    }

    async fn put_policy(&self, arn: &str, policy: &ResourcePolicy, json: String) -> Result<(), ProviderError> {
        let req =
            self.client.put_resource_policy().secret_id(arn).resource_policy(json).set_block_public_policy(policy.block_public_policy);
        let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "PutResourcePolicy", arn)) };
        self.ctx.timed(PROVIDER, "PutResourcePolicy", call).await
    }

    /// After CreateSecret: the policy, when the metadata names one.
    pub(crate) async fn apply_new_policy(&self, arn: &str, policy: Option<&ResourcePolicy>) -> Result<(), ProviderError> {
        let Some(policy) = policy else { return Ok(()) };
        match self.resolve_policy(policy).await? {
            Some(json) => self.put_policy(arn, policy, json).await,
            None => Ok(()),
        }
    }

    /// On an existing managed secret: the policy the metadata names, or none.
    pub(crate) async fn manage_policy(&self, arn: &str, policy: Option<&ResourcePolicy>) -> Result<(), ProviderError> {
        let wanted = match policy {
            Some(p) => self.resolve_policy(p).await?,
            None => None,
        };
        let (Some(policy), Some(json)) = (policy, wanted) else {
            let call = async {
                self.client
                    .delete_resource_policy()
                    .secret_id(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| errors::from_sdk(e, "DeleteResourcePolicy", arn))
            };
            return match self.ctx.timed(PROVIDER, "DeleteResourcePolicy", call).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            };
        };
        let desired: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| ProviderError::Invalid(format!("resourcePolicy of {arn} is not JSON: {e}")))?;
        let call = async {
            self.client.get_resource_policy().secret_id(arn).send().await.map_err(|e| errors::from_sdk(e, "GetResourcePolicy", arn))
        };
        let current = match self.ctx.timed(PROVIDER, "GetResourcePolicy", call).await {
            Ok(out) => out.resource_policy().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        if current.as_ref() == Some(&desired) {
            return Ok(());
        }
        self.put_policy(arn, policy, json).await
    }
}
