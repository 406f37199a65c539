//! PushSecret into the remote namespace, as ESO's Kubernetes provider does it: with a property,
//! one key of the remote Secret is set (others are kept); without one, the pushed value (the
//! whole local Secret as a JSON object) becomes the remote Secret's data. Labels and annotations
//! from `data[].metadata` (ESO's `PushSecretMetadata`) are merged in.
use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde::Deserialize;
use sesame_provider_core::{ProviderError, PushRef};

use crate::client::KubernetesClient;

/// ESO's `kubernetes.external-secrets.io/v1alpha1` `PushSecretMetadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushMetadata {
    #[serde(default)]
    spec: PushMetadataSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushMetadataSpec {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    target_merge_policy: Option<String>,
    #[serde(default)]
    remote_namespace: Option<String>,
}

fn metadata(remote: &PushRef) -> Result<PushMetadataSpec, ProviderError> {
    let Some(raw) = &remote.metadata else { return Ok(PushMetadataSpec::default()) };
    let parsed: PushMetadata =
        serde_json::from_value(raw.clone()).map_err(|e| ProviderError::Invalid(format!("unable to parse metadata parameters: {e}")))?;
    if parsed.spec.remote_namespace.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(ProviderError::Invalid(
            "metadata.spec.remoteNamespace is not supported by Sesame yet: set the store's remoteNamespace".into(),
        ));
    }
    Ok(parsed.spec)
}

fn merge(
    target: &mut Option<BTreeMap<String, String>>,
    source: &BTreeMap<String, String>,
    policy: Option<&str>,
) -> Result<(), ProviderError> {
    match policy.unwrap_or("Merge") {
        "" | "Merge" => target.get_or_insert_default().extend(source.clone()),
        "Replace" => *target = Some(source.clone()),
        "Ignore" => {}
        other => return Err(ProviderError::Invalid(format!("unexpected target merge policy {other:?}"))),
    }
    Ok(())
}

/// The new data: one key set, or the whole pushed JSON object.
fn new_data(
    current: Option<&BTreeMap<String, ByteString>>,
    remote: &PushRef,
    value: &[u8],
) -> Result<BTreeMap<String, ByteString>, ProviderError> {
    if let Some(property) = &remote.property {
        let mut data = current.cloned().unwrap_or_default();
        data.insert(property.clone(), ByteString(value.to_vec()));
        return Ok(data);
    }
    let map: BTreeMap<String, String> = serde_json::from_slice(value)
        .map_err(|_| ProviderError::Invalid("requires property in RemoteRef to push secret value if secret key is defined".into()))?;
    Ok(map.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect())
}

pub(crate) async fn push(client: &KubernetesClient, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
    let meta = metadata(remote)?;
    let name = remote.key.as_str();
    let what = format!("secret {}/{name}", client.spec.remote_namespace);
    let existing = match client.get(name).await {
        Ok(s) => Some(s),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let Some(existing) = existing else {
        let mut secret = Secret {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            type_: Some("Opaque".into()),
            data: Some(new_data(None, remote, value)?),
            ..Default::default()
        };
        merge(&mut secret.metadata.labels, &meta.labels, meta.target_merge_policy.as_deref())?;
        merge(&mut secret.metadata.annotations, &meta.annotations, meta.target_merge_policy.as_deref())?;
        return client
            .call("CreateSecret", &what, |c| {
                let secret = secret.clone();
                async move { client.secrets(c).create(&PostParams::default(), &secret).await }
            })
            .await
            .map(|_| ());
    };
    let mut updated = existing.clone();
    updated.data = Some(new_data(existing.data.as_ref(), remote, value)?);
    merge(&mut updated.metadata.labels, &meta.labels, meta.target_merge_policy.as_deref())?;
    merge(&mut updated.metadata.annotations, &meta.annotations, meta.target_merge_policy.as_deref())?;
    if updated == existing {
        return Ok(());
    }
    // A replace carries the resourceVersion read above: a concurrent writer makes it fail (409)
    // and the next push reads again, rather than one write silently undoing the other.
    client
        .call("UpdateSecret", &what, |c| {
            let updated = updated.clone();
            async move { client.secrets(c).replace(name, &PostParams::default(), &updated).await }
        })
        .await
        .map(|_| ())
}

pub(crate) async fn delete(client: &KubernetesClient, remote: &PushRef) -> Result<(), ProviderError> {
    let name = remote.key.as_str();
    let what = format!("secret {}/{name}", client.spec.remote_namespace);
    let existing = match client.get(name).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Some(property) = &remote.property {
        let data = existing.data.clone().unwrap_or_default();
        if !data.contains_key(property) {
            return Ok(());
        }
        if data.len() > 1 {
            let mut updated = existing.clone();
            updated.data.get_or_insert_default().remove(property);
            return client
                .call("UpdateSecret", &what, |c| {
                    let updated = updated.clone();
                    async move { client.secrets(c).replace(name, &PostParams::default(), &updated).await }
                })
                .await
                .map(|_| ());
        }
    }
    match client.call("DeleteSecret", &what, |c| async move { client.secrets(c).delete(name, &DeleteParams::default()).await }).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn exists(client: &KubernetesClient, remote: &PushRef) -> Result<bool, ProviderError> {
    match client.get(&remote.key).await {
        Ok(secret) => Ok(remote.property.as_ref().is_none_or(|p| secret.data.as_ref().is_some_and(|d| d.contains_key(p)))),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_sets_one_key_and_keeps_the_others() {
        let current = BTreeMap::from([("a".to_string(), ByteString(b"1".to_vec()))]);
        let data = new_data(Some(&current), &PushRef::new("s", Some("b".into())), b"2").unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data["b"].0, b"2");
    }

    #[test]
    fn a_whole_secret_replaces_the_data_and_a_bare_value_needs_a_property() {
        let current = BTreeMap::from([("old".to_string(), ByteString(b"x".to_vec()))]);
        let data = new_data(Some(&current), &PushRef::new("s", None), br#"{"u":"v"}"#).unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["u"]);
        let err = new_data(None, &PushRef::new("s", None), b"plain-value").unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(m) if m.contains("requires property") && !m.contains("plain-value")));
    }

    #[test]
    fn push_metadata_merges_or_replaces_labels() {
        let mut labels = Some(BTreeMap::from([("keep".to_string(), "1".to_string())]));
        let source = BTreeMap::from([("new".to_string(), "2".to_string())]);
        merge(&mut labels, &source, None).unwrap();
        assert_eq!(labels.as_ref().unwrap().len(), 2);
        merge(&mut labels, &source, Some("Replace")).unwrap();
        assert_eq!(labels.as_ref().unwrap().len(), 1);
        assert!(merge(&mut labels, &source, Some("Sideways")).is_err());
        let remote = PushRef {
            metadata: Some(
                serde_json::json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"remoteNamespace": "other"}}),
            ),
            ..PushRef::new("s", None)
        };
        assert!(matches!(metadata(&remote), Err(ProviderError::Invalid(m)) if m.contains("remoteNamespace")));
    }
}
