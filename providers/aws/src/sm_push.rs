//! PushSecret on Secrets Manager, with ESO's rules: a secret Sesame creates carries the tag
//! `managed-by: external-secrets` and a secret without it is never written; an unchanged value
//! writes no new version; `data[].metadata` (ESO's `PushSecretMetadata`) sets the push format,
//! KMS key, description, tags and resource policy (`sm_policy`); delete honours the store's `secretsManager` options and leaves
//! a secret Sesame does not manage alone.
use std::collections::BTreeMap;

use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::Tag;
use serde::Deserialize;
use sesame_provider_core::push::{MANAGED_BY, MANAGED_BY_VALUE, has_property, merge_property, metadata_spec, remove_property};
use sesame_provider_core::{ProviderError, PushRef};

use crate::SecretsManagerOptions;
use crate::errors;
use crate::secrets_manager::{PROVIDER, SecretsManagerClient};
use crate::sm_policy::ResourcePolicy;

/// ESO's version id of a secret's first pushed value.
const INITIAL_VERSION: &str = "00000000-0000-0000-0000-000000000001";

/// `data[].metadata.spec` for Secrets Manager, ESO's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
    /// `string` (SecretString) or `binary` (SecretBinary, the default).
    #[serde(default)]
    secret_push_format: String,
    #[serde(default)]
    kms_key_id: String,
    #[serde(default)]
    resource_policy: Option<ResourcePolicy>,
    // Accepted by ESO; refused here with a clear error rather than ignored.
    #[serde(default)]
    replication_locations: Option<Vec<String>>,
}

impl Metadata {
    /// ESO's defaults and checks.
    fn parse(remote: &PushRef) -> Result<Self, ProviderError> {
        let mut m: Metadata = metadata_spec(remote.metadata.as_ref(), &remote.key)?.unwrap_or_default();
        let invalid = |why: String| Err(ProviderError::Invalid(format!("metadata of {}: {why}", remote.key)));
        match m.secret_push_format.as_str() {
            "" => m.secret_push_format = "binary".into(),
            "binary" | "string" => {}
            other => return invalid(format!("invalid secretPushFormat {other:?} (string or binary)")),
        }
        if m.description.is_empty() {
            m.description = format!("secret '{MANAGED_BY}:{MANAGED_BY_VALUE}'");
        }
        if m.kms_key_id.is_empty() {
            m.kms_key_id = "alias/aws/secretsmanager".into();
        }
        if m.tags.contains_key(MANAGED_BY) {
            return invalid(format!("cannot specify a '{MANAGED_BY}' tag"));
        }
        if m.replication_locations.is_some() {
            return invalid("replicationLocations is not supported by Sesame yet".into());
        }
        Ok(m)
    }

    fn binary(&self) -> bool {
        self.secret_push_format == "binary"
    }
}

fn managed(out: &DescribeSecretOutput) -> bool {
    out.tags().iter().any(|t| t.key() == Some(MANAGED_BY) && t.value() == Some(MANAGED_BY_VALUE))
}

fn not_managed(id: &str) -> ProviderError {
    ProviderError::Invalid(format!("secret {id} is not managed by external-secrets (no {MANAGED_BY} tag): not overwritten"))
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

impl SecretsManagerClient {
    /// DescribeSecret; None when the secret does not exist.
    async fn describe(&self, id: &str) -> Result<Option<DescribeSecretOutput>, ProviderError> {
        let call =
            async { self.client.describe_secret().secret_id(id).send().await.map_err(|e| errors::from_sdk(e, "DescribeSecret", id)) };
        match self.ctx.timed(PROVIDER, "DescribeSecret", call).await {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The current value's bytes and whether it is a SecretString; None when the secret has no
    /// current value.
    async fn current(&self, id: &str) -> Result<Option<(Vec<u8>, bool)>, ProviderError> {
        let call =
            async { self.client.get_secret_value().secret_id(id).send().await.map_err(|e| errors::from_sdk(e, "GetSecretValue", id)) };
        match self.ctx.timed(PROVIDER, "GetSecretValue", call).await {
            Ok(out) => Ok(match (out.secret_string(), out.secret_binary()) {
                (Some(s), _) => Some((s.as_bytes().to_vec(), true)),
                (None, Some(b)) => Some((b.as_ref().to_vec(), false)),
                (None, None) => None,
            }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn push(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let meta = Metadata::parse(remote)?;
        let id = self.id(&remote.key);
        let Some(described) = self.describe(&id).await? else {
            let value = match &remote.property {
                Some(p) => merge_property(None, p, value, &id)?,
                None => value.to_vec(),
            };
            return self.create(&id, &meta, value).await;
        };
        if !managed(&described) {
            return Err(not_managed(&id));
        }
        self.patch_tags(&id, &meta, &described).await?;
        self.manage_policy(described.arn().unwrap_or(&id), meta.resource_policy.as_ref()).await?;
        let current = match described.version_ids_to_stages() {
            Some(v) if !v.is_empty() => self.current(&id).await?.map(|(bytes, _)| bytes),
            _ => None,
        };
        let value = match &remote.property {
            Some(p) => merge_property(current.as_deref(), p, value, &id)?,
            None => value.to_vec(),
        };
        if current.as_deref() == Some(value.as_slice()) {
            return Ok(()); // unchanged: no new version
        }
        let mut req = self.client.put_secret_value().secret_id(&id);
        if current.is_none() {
            req = req.client_request_token(INITIAL_VERSION);
        }
        req = if meta.binary() { req.secret_binary(Blob::new(value)) } else { req.secret_string(string(value, &id)?) };
        let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "PutSecretValue", &id)) };
        self.ctx.timed(PROVIDER, "PutSecretValue", call).await
    }

    async fn create(&self, id: &str, meta: &Metadata, value: Vec<u8>) -> Result<(), ProviderError> {
        let mut req = self
            .client
            .create_secret()
            .name(id)
            .description(&meta.description)
            .kms_key_id(&meta.kms_key_id)
            .client_request_token(INITIAL_VERSION)
            .tags(tag(MANAGED_BY, MANAGED_BY_VALUE));
        for (k, v) in &meta.tags {
            req = req.tags(tag(k, v));
        }
        req = if meta.binary() { req.secret_binary(Blob::new(value)) } else { req.secret_string(string(value, id)?) };
        let call = async { req.send().await.map_err(|e| errors::from_sdk(e, "CreateSecret", id)) };
        let created = self.ctx.timed(PROVIDER, "CreateSecret", call).await?;
        self.apply_new_policy(created.arn().unwrap_or(id), meta.resource_policy.as_ref()).await
    }

    /// Tags from metadata replace the secret's others (managed-by stays), as ESO: only when the
    /// metadata names tags at all.
    async fn patch_tags(&self, id: &str, meta: &Metadata, described: &DescribeSecretOutput) -> Result<(), ProviderError> {
        if meta.tags.is_empty() {
            return Ok(());
        }
        let current: BTreeMap<&str, &str> =
            described.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))).collect();
        let stale: Vec<String> =
            current.keys().filter(|k| **k != MANAGED_BY && !meta.tags.contains_key(**k)).map(|k| k.to_string()).collect();
        if !stale.is_empty() {
            let req = self.client.untag_resource().secret_id(id).set_tag_keys(Some(stale));
            let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "UntagResource", id)) };
            self.ctx.timed(PROVIDER, "UntagResource", call).await?;
        }
        if meta.tags.iter().any(|(k, v)| current.get(k.as_str()) != Some(&v.as_str())) {
            let mut req = self.client.tag_resource().secret_id(id).tags(tag(MANAGED_BY, MANAGED_BY_VALUE));
            for (k, v) in &meta.tags {
                req = req.tags(tag(k, v));
            }
            let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "TagResource", id)) };
            self.ctx.timed(PROVIDER, "TagResource", call).await?;
        }
        Ok(())
    }

    /// Removes what was pushed: the property (the secret goes with its last one) or the secret.
    /// A missing secret, or one Sesame does not manage, is left as it is (as ESO).
    pub(crate) async fn delete(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let id = self.id(&remote.key);
        let options = delete_options(self.options.as_ref())?;
        let Some(described) = self.describe(&id).await? else { return Ok(()) };
        if described.deleted_date().is_some() || !managed(&described) {
            return Ok(());
        }
        if let Some(property) = &remote.property {
            let Some((current, is_string)) = self.current(&id).await? else { return Ok(()) };
            if let Some(rest) = remove_property(&current, property) {
                if rest == current {
                    return Ok(());
                }
                let req = self.client.put_secret_value().secret_id(&id);
                // The secret keeps its format: a string stays a string.
                let req = if is_string { req.secret_string(string(rest, &id)?) } else { req.secret_binary(Blob::new(rest)) };
                let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "PutSecretValue", &id)) };
                return self.ctx.timed(PROVIDER, "PutSecretValue", call).await;
            }
        }
        let req = self
            .client
            .delete_secret()
            .secret_id(described.arn().unwrap_or(&id))
            .set_force_delete_without_recovery(options.0)
            .set_recovery_window_in_days(options.1);
        let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "DeleteSecret", &id)) };
        match self.ctx.timed(PROVIDER, "DeleteSecret", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// As ESO: the secret (or, with a property, that property) has a current value.
    pub(crate) async fn exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let id = self.id(&remote.key);
        Ok(match (self.current(&id).await?, &remote.property) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((v, _)), Some(p)) => has_property(&v, p),
        })
    }
}

/// The store's `secretsManager` delete options, checked as ESO checks them before DeleteSecret.
fn delete_options(options: Option<&SecretsManagerOptions>) -> Result<(Option<bool>, Option<i64>), ProviderError> {
    let Some(o) = options else { return Ok((None, None)) };
    let window = o.recovery_window_in_days.filter(|d| *d != 0);
    if let Some(days) = window {
        if !(7..=30).contains(&days) {
            return Err(ProviderError::Invalid("secretsManager.recoveryWindowInDays must be between 7 and 30 days".into()));
        }
        if o.force_delete_without_recovery {
            return Err(ProviderError::Invalid(
                "secretsManager.forceDeleteWithoutRecovery conflicts with secretsManager.recoveryWindowInDays".into(),
            ));
        }
    }
    Ok((o.force_delete_without_recovery.then_some(true), window))
}

fn string(value: Vec<u8>, id: &str) -> Result<String, ProviderError> {
    String::from_utf8(value).map_err(|_| ProviderError::Invalid(format!("{id}: secretPushFormat string needs a UTF-8 value")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(spec: serde_json::Value) -> PushRef {
        PushRef {
            metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
            ..PushRef::new("db", None)
        }
    }

    #[test]
    fn metadata_defaults_and_refusals_are_eso_s() {
        let m = Metadata::parse(&PushRef::new("db", None)).unwrap();
        assert!(m.binary());
        assert_eq!(m.kms_key_id, "alias/aws/secretsmanager");
        assert_eq!(m.description, "secret 'managed-by:external-secrets'");
        let m = Metadata::parse(&with(json!({"secretPushFormat": "string", "kmsKeyId": "k", "tags": {"team": "a"}}))).unwrap();
        assert!(!m.binary());
        assert_eq!(m.tags["team"], "a");
        for (spec, why) in [
            (json!({"secretPushFormat": "text"}), "secretPushFormat"),
            (json!({"tags": {"managed-by": "me"}}), "managed-by"),
            (json!({"kmsKeyID": "k"}), "kmsKeyID"),
            (json!({"replicationLocations": ["eu-west-1"]}), "not supported"),
            (json!({"resourcePolicy": {"policySourceRef": {"kind": "ConfigMap", "name": "p"}}}), "key"),
            (json!({"resourcePolicy": {"blockPublic": true}}), "blockPublic"),
        ] {
            let e = Metadata::parse(&with(spec)).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn delete_options_are_checked_as_eso_does() {
        let o = |force, days| SecretsManagerOptions { force_delete_without_recovery: force, recovery_window_in_days: days };
        assert_eq!(delete_options(None).unwrap(), (None, None));
        assert_eq!(delete_options(Some(&o(true, None))).unwrap(), (Some(true), None));
        assert_eq!(delete_options(Some(&o(false, Some(7)))).unwrap(), (None, Some(7)));
        assert!(delete_options(Some(&o(false, Some(3)))).unwrap_err().to_string().contains("between 7 and 30"));
        assert!(delete_options(Some(&o(true, Some(10)))).unwrap_err().to_string().contains("conflicts"));
    }
}
