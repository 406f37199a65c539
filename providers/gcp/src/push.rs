//! PushSecret on Secret Manager, with ESO 2.9's rules: a secret Sesame creates carries the label
//! `managed-by: external-secrets` and a secret without it is never written nor deleted; a value
//! becomes a new version only when it differs from the latest one; `data[].metadata` (ESO's
//! `PushSecretMetadata`) sets labels, annotations, topics and replication; a `property` is
//! merged into the JSON object of the latest version and cannot be combined with metadata.
use std::collections::{BTreeMap, HashMap};

use google_cloud_secretmanager_v1::model::replication::user_managed::Replica;
use google_cloud_secretmanager_v1::model::replication::{Automatic, UserManaged};
use google_cloud_secretmanager_v1::model::{CustomerManagedEncryption, Replication, Secret, SecretPayload, Topic};
use serde::Deserialize;
use sesame_provider_core::push::{MANAGED_BY, MANAGED_BY_VALUE, has_property, merge_property, metadata_spec, remove_property};
use sesame_provider_core::{ProviderError, PushRef};

use crate::client::{GcpClient, PROVIDER_NAME};
use crate::errors::classify;

/// `data[].metadata.spec` for Secret Manager: ESO's fields, unknown ones refused as ESO does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Pub/Sub topics (`projects/*/topics/*`), set when the secret is created.
    #[serde(default)]
    topics: Vec<String>,
    /// `Replace` (default): the secret's labels become these; `Merge`: labels already on the
    /// secret are kept (and keep their value).
    #[serde(default)]
    merge_policy: String,
    #[serde(default)]
    cmek_key_name: String,
    /// Deprecated by ESO in favour of `replicationLocations`, which wins when both are set.
    #[serde(default)]
    replication_location: String,
    #[serde(default)]
    replication_locations: Vec<String>,
}

impl Metadata {
    fn parse(remote: &PushRef) -> Result<Self, ProviderError> {
        let meta: Metadata = metadata_spec(remote.metadata.as_ref(), &remote.key)?.unwrap_or_default();
        if remote.property.is_some() && remote.metadata.as_ref().is_some_and(|m| !m.is_null()) {
            return Err(ProviderError::Invalid(format!("{}: cannot specify metadata and property at the same time", remote.key)));
        }
        if !matches!(meta.merge_policy.as_str(), "" | "Replace" | "Merge") {
            let policy = &meta.merge_policy;
            return Err(ProviderError::Invalid(format!("metadata of {}: invalid mergePolicy {policy:?} (Replace or Merge)", remote.key)));
        }
        Ok(meta)
    }

    /// The replication of a new global secret: user-managed when locations are named (each
    /// replica with the CMEK key, if any), else automatic (with the CMEK key, if any).
    fn replication(&self) -> Replication {
        let mut locations = self.replication_locations.clone();
        if locations.is_empty() && !self.replication_location.is_empty() {
            locations.push(self.replication_location.clone());
        }
        let cmek = (!self.cmek_key_name.is_empty()).then(|| CustomerManagedEncryption::new().set_kms_key_name(&self.cmek_key_name));
        if locations.is_empty() {
            return Replication::new().set_automatic(Automatic::new().set_or_clear_customer_managed_encryption(cmek));
        }
        let replicas = locations.iter().map(|l| Replica::new().set_location(l).set_or_clear_customer_managed_encryption(cmek.clone()));
        Replication::new().set_user_managed(UserManaged::new().set_replicas(replicas))
    }

    /// The labels and annotations a secret must carry after a push without a property.
    fn desired(&self, current_labels: &HashMap<String, String>) -> (HashMap<String, String>, HashMap<String, String>) {
        let mut labels: HashMap<String, String> = self.labels.clone().into_iter().collect();
        if self.merge_policy == "Merge" {
            labels.extend(current_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        (labels, self.annotations.clone().into_iter().collect())
    }
}

fn managed(secret: &Secret) -> bool {
    secret.labels.get(MANAGED_BY).is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// `value` is already what `property` of the JSON payload holds (ESO compares that, not bytes).
fn property_holds(current: &[u8], property: &str, value: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(current) else { return false };
    matches!(map.get(property), Some(serde_json::Value::String(s)) if s.as_bytes() == value)
}

impl GcpClient {
    /// GetSecret; None when the secret does not exist.
    async fn get(&self, name: &str) -> Result<Option<Secret>, ProviderError> {
        let call = async { self.sm().get_secret().set_name(name).send().await.map_err(|e| classify(&e, name)) };
        match self.ctx().timed(PROVIDER_NAME, "GetSecret", call).await {
            Ok(secret) => Ok(Some(secret)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest version's payload; None when the secret has no version.
    async fn latest(&self, name: &str) -> Result<Option<Vec<u8>>, ProviderError> {
        match self.access(&format!("{name}/versions/latest")).await {
            Ok(v) => Ok(Some(v.as_bytes().to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn add_version(&self, name: &str, data: Vec<u8>) -> Result<(), ProviderError> {
        let crc = i64::from(crc32c::crc32c(&data));
        let payload = SecretPayload::new().set_data(data).set_data_crc32c(crc);
        let call = async {
            self.sm().add_secret_version().set_parent(name).set_payload(payload).send().await.map(|_| ()).map_err(|e| classify(&e, name))
        };
        self.ctx().timed(PROVIDER_NAME, "AddSecretVersion", call).await
    }

    async fn create(&self, name: &str, id: &str, meta: &Metadata, with_metadata: bool) -> Result<Secret, ProviderError> {
        let (labels, annotations) = if with_metadata {
            meta.desired(&HashMap::new())
        } else {
            ([(MANAGED_BY.into(), MANAGED_BY_VALUE.into())].into(), HashMap::new())
        };
        let mut secret =
            Secret::new().set_labels(labels).set_annotations(annotations).set_topics(meta.topics.iter().map(|t| Topic::new().set_name(t)));
        // A regional secret takes no replication (its location is its replication).
        if !self.parent().contains("/locations/") {
            secret = secret.set_replication(meta.replication());
        }
        let call = async {
            self.sm()
                .create_secret()
                .set_parent(self.parent())
                .set_secret_id(id)
                .set_secret(secret)
                .send()
                .await
                .map_err(|e| classify(&e, name))
        };
        self.ctx().timed(PROVIDER_NAME, "CreateSecret", call).await
    }

    async fn update_metadata(
        &self,
        secret: &Secret,
        labels: HashMap<String, String>,
        annotations: HashMap<String, String>,
    ) -> Result<(), ProviderError> {
        let name = secret.name.clone();
        let patch = Secret::new().set_name(&name).set_etag(&secret.etag).set_labels(labels).set_annotations(annotations);
        let mask = google_cloud_wkt::FieldMask::default().set_paths(["labels", "annotations"]);
        let call = async {
            self.sm().update_secret().set_secret(patch).set_update_mask(mask).send().await.map(|_| ()).map_err(|e| classify(&e, &name))
        };
        self.ctx().timed(PROVIDER_NAME, "UpdateSecret", call).await
    }

    pub(crate) async fn push(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let meta = Metadata::parse(remote)?;
        let name = self.secret_name(&remote.key)?;
        let with_metadata = remote.property.is_none();
        let secret = match self.get(&name).await? {
            Some(secret) => secret,
            None => self.create(&name, &remote.key, &meta, with_metadata).await?,
        };
        if !managed(&secret) {
            return Err(ProviderError::Invalid(format!(
                "secret {name} is not managed by external-secrets (no {MANAGED_BY}={MANAGED_BY_VALUE} label): not overwritten"
            )));
        }
        if with_metadata {
            let (labels, annotations) = meta.desired(&secret.labels);
            if labels != secret.labels || annotations != secret.annotations {
                self.update_metadata(&secret, labels, annotations).await?;
            }
        }
        let current = self.latest(&name).await?;
        let data = match (&remote.property, current.as_deref()) {
            (Some(p), Some(c)) if property_holds(c, p, value) => return Ok(()),
            (Some(p), c) => merge_property(c, p, value, &name)?,
            (None, Some(c)) if c == value => return Ok(()),
            (None, _) => value.to_vec(),
        };
        self.add_version(&name, data).await
    }

    /// Removes what was pushed: the property (a new version without it; the secret goes with its
    /// last one) or the whole secret. A missing or unmanaged secret is left alone, as ESO does.
    pub(crate) async fn delete(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let name = self.secret_name(&remote.key)?;
        let Some(secret) = self.get(&name).await? else { return Ok(()) };
        if !managed(&secret) {
            return Ok(());
        }
        if let Some(property) = &remote.property {
            let Some(current) = self.latest(&name).await? else { return Ok(()) };
            match remove_property(&current, property) {
                Some(rest) if rest == current => return Ok(()),
                Some(rest) => return self.add_version(&name, rest).await,
                None => {}
            }
        }
        let call = async { self.sm().delete_secret().set_name(&name).set_etag(&secret.etag).send().await.map_err(|e| classify(&e, &name)) };
        match self.ctx().timed(PROVIDER_NAME, "DeleteSecret", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// As ESO: the newest enabled version can be read (and, with a property, holds it).
    pub(crate) async fn exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let name = self.secret_name(&remote.key)?;
        match self.newest_enabled(&name).await {
            Ok(v) => Ok(remote.property.as_deref().is_none_or(|p| has_property(v.as_bytes(), p))),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(spec: serde_json::Value, property: Option<&str>) -> PushRef {
        PushRef {
            metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
            ..PushRef::new("db", property.map(str::to_string))
        }
    }

    #[test]
    fn metadata_is_eso_s_and_refused_beside_a_property() {
        let m =
            Metadata::parse(&with(json!({"labels": {"team": "a"}, "annotations": {"note": "x"}, "mergePolicy": "Merge"}), None)).unwrap();
        let (labels, annotations) = m.desired(&[("team".into(), "old".into()), ("kept".into(), "1".into())].into());
        assert_eq!(labels["team"], "old", "Merge keeps what the secret already says, as ESO");
        assert_eq!(labels["kept"], "1");
        assert_eq!(labels[MANAGED_BY], MANAGED_BY_VALUE);
        assert_eq!(annotations["note"], "x");
        let (labels, _) = Metadata::default().desired(&[("other".into(), "1".into())].into());
        assert_eq!(labels, [(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string())].into(), "Replace drops the others");
        let both = Metadata::parse(&with(json!({}), Some("password"))).unwrap_err().to_string();
        assert!(both.contains("metadata and property"), "{both}");
        for (spec, why) in [
            (json!({"mergePolicy": "Union"}), "mergePolicy"),
            (json!({"replicationLocation": 1}), "invalid spec"),
            (json!({"tags": {}}), "tags"),
        ] {
            let e = Metadata::parse(&with(spec, None)).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn replication_follows_locations_and_cmek_as_eso() {
        let automatic = Metadata::default().replication();
        assert!(automatic.automatic().is_some_and(|a| a.customer_managed_encryption.is_none()));
        let cmek = Metadata { cmek_key_name: "k".into(), ..Default::default() }.replication();
        assert_eq!(cmek.automatic().unwrap().customer_managed_encryption.as_ref().unwrap().kms_key_name, "k");
        let both = Metadata {
            replication_location: "old".into(),
            replication_locations: vec!["europe-west1".into(), "europe-west4".into()],
            cmek_key_name: "k".into(),
            ..Default::default()
        };
        let replication = both.replication();
        let replicas = &replication.user_managed().unwrap().replicas;
        assert_eq!(replicas.iter().map(|r| r.location.as_str()).collect::<Vec<_>>(), ["europe-west1", "europe-west4"]);
        assert!(replicas.iter().all(|r| r.customer_managed_encryption.as_ref().is_some_and(|c| c.kms_key_name == "k")));
        let single = Metadata { replication_location: "us-east1".into(), ..Default::default() }.replication();
        assert_eq!(single.user_managed().unwrap().replicas[0].location, "us-east1");
    }

    #[test]
    fn a_property_is_unchanged_when_it_already_holds_the_value() {
        assert!(property_holds(br#"{"a": "1", "b":"2"}"#, "a", b"1"));
        assert!(!property_holds(br#"{"a":"1"}"#, "a", b"2"));
        assert!(!property_holds(br#"{"a":"1"}"#, "b", b"1"));
        assert!(!property_holds(b"plain", "a", b"1"));
    }
}
