//! PushSecret on Parameter Store, with ESO's rules: a parameter Sesame creates carries the tag
//! `managed-by: external-secrets` and one without it is never overwritten; an unchanged value
//! writes nothing; `data[].metadata` (ESO's `PushSecretMetadata`) sets the type, tier (and its
//! policies), KMS key, description and tags; delete leaves a parameter Sesame does not manage.
use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, ResourceTypeForTagging, Tag};
use serde::Deserialize;
use sesame_provider_core::push::{MANAGED_BY, MANAGED_BY_VALUE, has_property, merge_property, metadata_spec, remove_property};
use sesame_provider_core::{ProviderError, PushRef, RemoteKey};

use crate::errors;
use crate::parameter_store::{PROVIDER, ParameterStoreClient};

/// `data[].metadata.spec` for Parameter Store, ESO's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    /// `String` (default), `StringList` or `SecureString`.
    #[serde(default)]
    secret_type: String,
    #[serde(default, rename = "kmsKeyID")]
    kms_key_id: String,
    #[serde(default)]
    tier: Tier,
    /// How the controller encodes a whole Secret; accepted, the value arrives encoded.
    #[serde(default)]
    #[allow(dead_code)]
    encode_as_decoded: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tier {
    /// `Standard` (default), `Advanced` or `Intelligent-Tiering`.
    #[serde(default, rename = "type")]
    kind: String,
    /// Parameter policies (Advanced tier only), sent as JSON.
    #[serde(default)]
    policies: Option<serde_json::Value>,
}

impl Metadata {
    fn parse(remote: &PushRef) -> Result<Self, ProviderError> {
        let mut m: Metadata = metadata_spec(remote.metadata.as_ref(), &remote.key)?.unwrap_or_default();
        let invalid = |why: String| Err(ProviderError::Invalid(format!("metadata of {}: {why}", remote.key)));
        if m.description.is_empty() {
            m.description = format!("secret '{MANAGED_BY}:{MANAGED_BY_VALUE}'");
        }
        match m.secret_type.as_str() {
            "" => m.secret_type = "String".into(),
            "String" | "StringList" | "SecureString" => {}
            other => return invalid(format!("invalid secretType {other:?} (String, StringList or SecureString)")),
        }
        match m.tier.kind.as_str() {
            "" => m.tier.kind = "Standard".into(),
            "Standard" | "Advanced" | "Intelligent-Tiering" => {}
            other => return invalid(format!("invalid tier.type {other:?} (Standard, Advanced or Intelligent-Tiering)")),
        }
        if m.kms_key_id.is_empty() {
            m.kms_key_id = "alias/aws/ssm".into();
        }
        if m.tags.contains_key(MANAGED_BY) {
            return invalid(format!("cannot specify a '{MANAGED_BY}' tag"));
        }
        Ok(m)
    }
}

fn tag(k: &str, v: &str) -> Result<Tag, ProviderError> {
    Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("invalid tag {k:?}: {e}")))
}

impl ParameterStoreClient {
    /// The decrypted value; None when the parameter does not exist.
    async fn current(&self, name: &str) -> Result<Option<Vec<u8>>, ProviderError> {
        match self.value(&RemoteKey::new(name.strip_prefix(self.prefix.as_str()).unwrap_or(name))).await {
            Ok(v) => Ok(Some(v.as_bytes().to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tag_map(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let req = self.client.list_tags_for_resource().resource_type(ResourceTypeForTagging::Parameter).resource_id(name);
        let call = async { req.send().await.map_err(|e| errors::from_sdk(e, "ListTagsForResource", name)) };
        let out = self.ctx.timed(PROVIDER, "ListTagsForResource", call).await?;
        Ok(out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    async fn put(&self, name: &str, meta: &Metadata, value: String, tags: Option<Vec<Tag>>) -> Result<(), ProviderError> {
        let mut req = self
            .client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::from(meta.secret_type.as_str()))
            .description(&meta.description)
            // A new parameter is created with its tags (AWS refuses tags with Overwrite).
            .overwrite(tags.is_none())
            .set_tags(tags);
        if meta.secret_type == "SecureString" {
            req = req.key_id(&meta.kms_key_id);
        }
        // As ESO: only an Advanced tier is sent, with its policies.
        if meta.tier.kind == "Advanced" {
            req = req.tier(ParameterTier::Advanced);
            if let Some(policies) = &meta.tier.policies {
                req = req.policies(policies.to_string());
            }
        }
        let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "PutParameter", name)) };
        self.ctx.timed(PROVIDER, "PutParameter", call).await
    }

    pub(crate) async fn push(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let meta = Metadata::parse(remote)?;
        let name = format!("{}{}", self.prefix, remote.key);
        let current = self.current(&name).await?;
        let value = match &remote.property {
            Some(p) => merge_property(current.as_deref(), p, value, &name)?,
            None => value.to_vec(),
        };
        let text = String::from_utf8(value).map_err(|_| ProviderError::Invalid(format!("{name}: a parameter value must be UTF-8")))?;
        let Some(current) = current else {
            let mut tags = vec![tag(MANAGED_BY, MANAGED_BY_VALUE)?];
            for (k, v) in &meta.tags {
                tags.push(tag(k, v)?);
            }
            return self.put(&name, &meta, text, Some(tags)).await;
        };
        let tags = self.tag_map(&name).await?;
        if tags.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return Err(ProviderError::Invalid(format!(
                "parameter {name} is not managed by external-secrets (no {MANAGED_BY} tag): not overwritten"
            )));
        }
        if current == text.as_bytes() {
            return Ok(()); // unchanged, as ESO: no new version, tags untouched
        }
        self.put(&name, &meta, text, None).await?;
        self.patch_tags(&name, &meta, &tags).await
    }

    /// Tags not in the metadata go (managed-by stays); new or changed ones are set.
    async fn patch_tags(&self, name: &str, meta: &Metadata, current: &BTreeMap<String, String>) -> Result<(), ProviderError> {
        let stale: Vec<String> = current.keys().filter(|k| *k != MANAGED_BY && !meta.tags.contains_key(*k)).cloned().collect();
        if !stale.is_empty() {
            let req = self
                .client
                .remove_tags_from_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tag_keys(Some(stale));
            let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "RemoveTagsFromResource", name)) };
            self.ctx.timed(PROVIDER, "RemoveTagsFromResource", call).await?;
        }
        if meta.tags.iter().any(|(k, v)| current.get(k) != Some(v)) {
            let mut req = self.client.add_tags_to_resource().resource_type(ResourceTypeForTagging::Parameter).resource_id(name);
            for (k, v) in &meta.tags {
                req = req.tags(tag(k, v)?);
            }
            let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "AddTagsToResource", name)) };
            self.ctx.timed(PROVIDER, "AddTagsToResource", call).await?;
        }
        Ok(())
    }

    /// Removes what was pushed (the property, or the parameter with its last property); a
    /// missing parameter or one Sesame does not manage is left as it is (as ESO).
    pub(crate) async fn delete(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let name = format!("{}{}", self.prefix, remote.key);
        let Some(current) = self.current(&name).await? else { return Ok(()) };
        if self.tag_map(&name).await?.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return Ok(());
        }
        if let Some(property) = &remote.property
            && let Some(rest) = remove_property(&current, property)
        {
            if rest == current {
                return Ok(());
            }
            let meta = Metadata::parse(remote)?;
            let text = String::from_utf8(rest).map_err(|_| ProviderError::Invalid(format!("{name}: a parameter value must be UTF-8")))?;
            return self.put(&name, &meta, text, None).await;
        }
        let req = self.client.delete_parameter().name(&name);
        let call = async { req.send().await.map(|_| ()).map_err(|e| errors::from_sdk(e, "DeleteParameter", &name)) };
        match self.ctx.timed(PROVIDER, "DeleteParameter", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    pub(crate) async fn exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let name = format!("{}{}", self.prefix, remote.key);
        Ok(match (self.current(&name).await?, &remote.property) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some(p)) => has_property(&v, p),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(spec: serde_json::Value) -> PushRef {
        PushRef {
            metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
            ..PushRef::new("/db", None)
        }
    }

    #[test]
    fn metadata_defaults_and_refusals_are_eso_s() {
        let m = Metadata::parse(&PushRef::new("/db", None)).unwrap();
        assert_eq!((m.secret_type.as_str(), m.tier.kind.as_str(), m.kms_key_id.as_str()), ("String", "Standard", "alias/aws/ssm"));
        let m = Metadata::parse(&with(json!({"secretType": "SecureString", "kmsKeyID": "k", "tier": {"type": "Advanced",
            "policies": [{"Type": "Expiration"}]}, "tags": {"team": "a"}})))
        .unwrap();
        assert_eq!((m.secret_type.as_str(), m.kms_key_id.as_str(), m.tier.kind.as_str()), ("SecureString", "k", "Advanced"));
        for (spec, why) in [
            (json!({"secretType": "Blob"}), "secretType"),
            (json!({"tier": {"type": "Huge"}}), "tier.type"),
            (json!({"tags": {"managed-by": "me"}}), "managed-by"),
            (json!({"kmsKeyId": "k"}), "kmsKeyId"),
        ] {
            let e = Metadata::parse(&with(spec)).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
