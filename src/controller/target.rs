//! The sink: the Kubernetes Secret an ExternalSecret writes, applied with server-side apply so
//! keys this ExternalSecret stops producing disappear and keys written by others stay.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use super::Error;
use super::target_meta::MetaView;
use crate::api::{CREATED_BY_LABEL, CreationPolicy, DATA_HASH_ANNOTATION, ExternalSecret, MANAGED_LABEL, OWNER_ANNOTATION};
use crate::pipeline::{Shaped, created_by, data_hash};

/// The server-side apply field manager of one ExternalSecret.
pub fn field_manager(es_name: &str) -> String {
    let full = format!("sesame.external-secrets.io/{es_name}");
    if full.len() <= 128 {
        return full;
    }
    let digest = hex::encode(&Sha256::digest(es_name.as_bytes())[..16]);
    format!("sesame.external-secrets.io/sha256/{digest}")
}

/// The Secret to apply: only the fields this ExternalSecret owns. Without a template it carries
/// the ExternalSecret's own labels and annotations (as ESO); with one, the template's.
pub fn desired_secret(es: &ExternalSecret, shaped: &Shaped) -> Secret {
    let data = &shaped.data;
    let mut labels: BTreeMap<String, String> = shaped.labels.clone().unwrap_or_else(|| es.labels().clone());
    labels.insert(MANAGED_LABEL.into(), "true".into());
    let owner = es.spec.target.creation_policy == CreationPolicy::Owner;
    if owner {
        labels.insert(CREATED_BY_LABEL.into(), created_by(&es.namespace().unwrap_or_default(), &es.name_any()));
    }
    let mut annotations: BTreeMap<String, String> = shaped.annotations.clone().unwrap_or_else(|| {
        es.annotations().into_iter().filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration").collect()
    });
    annotations.insert(DATA_HASH_ANNOTATION.into(), data_hash(data));
    if es.spec.target.creation_policy.records_owner() {
        annotations.insert(OWNER_ANNOTATION.into(), owner_value(es));
    }
    let owner_references = owner.then(|| es.controller_owner_ref(&()).map(|r| vec![r])).flatten();
    let finalizers = es.spec.target.template.as_ref().and_then(|t| t.metadata.as_ref()).map(|m| m.finalizers.clone());
    Secret {
        metadata: ObjectMeta {
            name: Some(es.target_name()),
            namespace: es.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references,
            finalizers: finalizers.filter(|f| !f.is_empty()),
            ..Default::default()
        },
        data: Some(data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect()),
        immutable: es.spec.target.immutable.then_some(true),
        type_: shaped.type_.clone(),
        ..Default::default()
    }
}

/// A Secret being deleted may not gain finalizers (the apiserver refuses them, and ESO adds
/// none then): keep only those it still has, so the apply neither adds nor releases one.
pub fn keep_finalizers_while_deleting(desired: &mut Secret, existing: &Secret) {
    if existing.metadata.deletion_timestamp.is_none() {
        return;
    }
    let have = existing.metadata.finalizers.clone().unwrap_or_default();
    if let Some(want) = desired.metadata.finalizers.as_mut() {
        want.retain(|f| have.contains(f));
    }
}

/// The data keys this field manager applied last time, read from `managedFields`.
pub fn owned_data_keys(secret: &Secret, manager: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for entry in secret.metadata.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(manager) || entry.operation.as_deref() != Some("Apply") {
            continue;
        }
        let Some(fields) = &entry.fields_v1 else { continue };
        if let Some(data) = fields.0.get("f:data").and_then(|d| d.as_object()) {
            keys.extend(data.keys().filter_map(|k| k.strip_prefix("f:")).map(str::to_string));
        }
    }
    keys
}

/// The data hash of the Secret as it is now: ESO's hash of all of its data, whoever wrote it.
pub fn current_hash(secret: &Secret) -> String {
    let data: BTreeMap<String, Vec<u8>> = secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    data_hash(&data)
}

/// For a target that keeps other writers' keys: set the data-hash annotation of `desired` to the
/// hash of the data the Secret will hold after the apply (its other keys, minus the keys this
/// manager wrote before and no longer writes, plus ours), as ESO hashes the whole Secret.
pub fn hash_merged(desired: &mut Secret, existing: &Secret, manager: &str) {
    let ours = owned_data_keys(existing, manager);
    let want = desired.data.clone().unwrap_or_default();
    let mut after: BTreeMap<String, Vec<u8>> = existing
        .data
        .iter()
        .flatten()
        .filter(|(k, _)| !ours.contains(*k) || want.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    after.extend(want.into_iter().map(|(k, v)| (k, v.0)));
    desired.metadata.annotations.get_or_insert_default().insert(DATA_HASH_ANNOTATION.into(), data_hash(&after));
}

/// Whether applying `desired` would change nothing in a Secret whose metadata shows our last
/// write: the same data (by its hash annotation), labels, annotations and owner.
pub fn metadata_matches(meta: &impl MetaView, desired: &Secret) -> bool {
    let labels = desired.metadata.labels.iter().flatten();
    let annotations = desired.metadata.annotations.iter().flatten();
    desired.metadata.finalizers.iter().flatten().all(|f| meta.has_finalizer(f))
        && labels.into_iter().all(|(k, v)| meta.label_is(k, v) == Some(true))
        && annotations.into_iter().all(|(k, v)| meta.annotation_is(k, v) == Some(true))
        && desired.metadata.owner_references.iter().flatten().all(|r| meta.has_owner_uid(&r.uid))
}

/// Whether `existing` already holds everything applying `desired` would write: the data (exactly
/// for a target this ExternalSecret owns alone; its own keys, and none it dropped, for a target
/// shared with other writers), type, labels, annotations and owner.
pub fn already_applied(existing: &Secret, desired: &Secret, policy: CreationPolicy, manager: &str) -> bool {
    let have = existing.data.clone().unwrap_or_default();
    let want = desired.data.clone().unwrap_or_default();
    let data = match policy {
        CreationPolicy::Owner | CreationPolicy::Orphan => have == want,
        _ => want.iter().all(|(k, v)| have.get(k) == Some(v)) && owned_data_keys(existing, manager).iter().all(|k| want.contains_key(k)),
    };
    data && desired.type_.as_ref().is_none_or(|t| existing.type_.as_ref() == Some(t))
        && desired.immutable.is_none_or(|i| existing.immutable == Some(i))
        && metadata_matches(&existing.metadata, desired)
}

/// Whether the Secret still holds what was last written to it, by ESO's rule: the managed label
/// and a data-hash annotation that matches its data.
pub fn is_intact(secret: &Secret) -> bool {
    let labelled = secret.labels().get(MANAGED_LABEL).map(String::as_str) == Some("true");
    let recorded = secret.annotations().get(DATA_HASH_ANNOTATION);
    labelled && recorded.is_some_and(|h| *h == current_hash(secret))
}

/// The [`OWNER_ANNOTATION`] value naming this ExternalSecret.
fn owner_value(es: &ExternalSecret) -> String {
    format!("{}/{}", es.name_any(), es.uid().unwrap_or_default())
}

/// The ExternalSecret a Secret belongs to, as (name, uid): its controller ownerReference
/// (Owner), else the owner annotation (Orphan, Merge, CreateOrMerge). The bool says whether it
/// came from the annotation.
fn recorded_owner(secret: &Secret) -> Option<(String, String, bool)> {
    if let Some(o) = secret.owner_references().iter().find(|o| o.controller == Some(true) && o.kind == "ExternalSecret") {
        return Some((o.name.clone(), o.uid.clone(), false));
    }
    let (name, uid) = secret.annotations().get(OWNER_ANNOTATION)?.split_once('/')?;
    Some((name.to_string(), uid.to_string(), true))
}

/// Refuse to write over a Secret this ExternalSecret may not take: one another ExternalSecret
/// owns (by ownerReference, or by the owner annotation while that ExternalSecret still exists),
/// or one no ExternalSecret manages unless the policy merges into existing Secrets.
pub async fn check_takeover(client: &kube::Client, es: &ExternalSecret, existing: &Secret) -> Result<(), Error> {
    let target = es.target_name();
    let es_uid = es.uid().unwrap_or_default();
    if let Some((owner, uid, by_annotation)) = recorded_owner(existing) {
        // A Secret an Orphan ExternalSecret left behind is free again once that one is gone
        // (deleted, or recreated under the same name: a new uid).
        let alive = || async {
            let api: Api<ExternalSecret> = Api::namespaced(client.clone(), &es.namespace().unwrap_or_default());
            Ok::<_, Error>(api.get_metadata_opt(&owner).await?.is_some_and(|m| m.metadata.uid.as_deref() == Some(uid.as_str())))
        };
        if uid != es_uid && (!by_annotation || alive().await?) {
            return Err(Error::TargetConflict(format!("target secret {target} is owned by another ExternalSecret ({owner})")));
        }
    }
    let managed = existing.labels().get(MANAGED_LABEL).map(String::as_str) == Some("true");
    if !managed && !es.spec.target.creation_policy.merges() {
        return Err(Error::TargetConflict(format!(
            "target secret {target} exists and is not managed by an ExternalSecret; use creationPolicy Merge or CreateOrMerge to write into it"
        )));
    }
    Ok(())
}

/// Whether applying `desired` would change data of an immutable Secret.
pub fn violates_immutability(existing: &Secret, desired: &Secret) -> bool {
    if existing.immutable != Some(true) {
        return false;
    }
    let have = existing.data.clone().unwrap_or_default();
    desired.data.iter().flatten().any(|(k, v)| have.get(k) != Some(v))
}

/// The apiserver's limit on a Secret's data (the sum of its values).
pub const MAX_SECRET_BYTES: usize = 1 << 20;

/// Refuse data the apiserver would reject as too long, before sending it. A merging target keeps
/// the other writers' keys, so they count too.
pub fn check_size(existing: Option<&Secret>, desired: &Secret, policy: CreationPolicy) -> Result<(), Error> {
    let want = desired.data.clone().unwrap_or_default();
    let foreign: usize = match (existing, policy) {
        (Some(s), p) if p.merges() => s.data.iter().flatten().filter(|(k, _)| !want.contains_key(*k)).map(|(_, v)| v.0.len()).sum(),
        _ => 0,
    };
    let bytes = foreign + want.values().map(|v| v.0.len()).sum::<usize>();
    if bytes > MAX_SECRET_BYTES {
        return Err(Error::TargetTooLarge { bytes, limit: MAX_SECRET_BYTES });
    }
    Ok(())
}

/// Apply `desired` as this ExternalSecret's field manager. For Owner and Orphan targets keys
/// added by other writers are removed afterwards, so the Secret holds exactly the desired data.
pub async fn apply(api: &Api<Secret>, es: &ExternalSecret, desired: &Secret) -> Result<Secret, Error> {
    let manager = field_manager(&es.name_any());
    let name = es.target_name();
    let applied = api.patch(&name, &PatchParams::apply(&manager).force(), &Patch::Apply(desired)).await?;
    let exclusive = matches!(es.spec.target.creation_policy, CreationPolicy::Owner | CreationPolicy::Orphan);
    let want: BTreeSet<&String> = desired.data.iter().flatten().map(|(k, _)| k).collect();
    let foreign: Vec<String> = applied.data.iter().flatten().map(|(k, _)| k).filter(|k| !want.contains(k)).cloned().collect();
    if !exclusive || foreign.is_empty() {
        return Ok(applied);
    }
    let ops: Vec<serde_json::Value> = foreign
        .iter()
        .map(|k| serde_json::json!({"op": "remove", "path": format!("/data/{}", k.replace('~', "~0").replace('/', "~1"))}))
        .collect();
    let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops)).expect("valid JSON patch");
    Ok(api.patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch)).await?)
}

/// Deletion fields no live Secret can hold: a terminating Secret has a real deletion time and a
/// grace period of 0 (Secrets are not deleted gracefully). The apiserver clears both on a create
/// and refuses to change them on an update (422, immutable), so an apply carrying them creates a
/// Secret or changes nothing. Neither field is kept: the next apply drops them from managedFields.
const NEVER_DELETING: &str = "1970-01-01T00:00:01Z";
const NEVER_GRACE: i64 = 1;

/// Apply `desired` only if no Secret of its name exists, in one request: a brand-new target
/// needs no GET first, and no Secret created meanwhile can be written over. `None`: one exists
/// (whoever wrote it) and nothing was changed; read it and take the checked path.
pub async fn create(api: &Api<Secret>, es: &ExternalSecret, desired: &Secret) -> Result<Option<Secret>, Error> {
    let mut new = desired.clone();
    let deleting: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time =
        serde_json::from_value(serde_json::json!(NEVER_DELETING)).expect("an RFC 3339 time");
    new.metadata.deletion_timestamp = Some(deleting);
    new.metadata.deletion_grace_period_seconds = Some(NEVER_GRACE);
    let params = PatchParams::apply(&field_manager(&es.name_any())).force();
    match api.patch(&es.target_name(), &params, &Patch::Apply(&new)).await {
        Ok(created) => Ok(Some(created)),
        // 422: the immutable deletion fields of an existing Secret; 409: created concurrently.
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: &[(&str, usize)]) -> Secret {
        let data = data.iter().map(|(k, n)| (k.to_string(), ByteString(vec![b'x'; *n]))).collect();
        Secret { data: Some(data), ..Default::default() }
    }

    #[test]
    fn data_over_one_mebibyte_is_refused_before_the_apiserver_sees_it() {
        let at_limit = secret(&[("a", MAX_SECRET_BYTES - 10), ("b", 10)]);
        assert!(check_size(None, &at_limit, CreationPolicy::Owner).is_ok());
        let over = secret(&[("a", MAX_SECRET_BYTES - 10), ("b", 11)]);
        let err = check_size(None, &over, CreationPolicy::Owner).unwrap_err();
        assert!(matches!(err, Error::TargetTooLarge { bytes, .. } if bytes == MAX_SECRET_BYTES + 1));
        assert!(err.waits_for_refresh() && !err.is_permanent());
        assert!(err.to_string().contains("1048576-byte limit"), "{err}");
    }

    #[test]
    fn a_merge_target_counts_the_keys_other_writers_keep() {
        let existing = secret(&[("theirs", MAX_SECRET_BYTES), ("mine", 5)]);
        let desired = secret(&[("mine", 1)]);
        assert!(check_size(Some(&existing), &desired, CreationPolicy::Merge).is_err());
        // Owner and Orphan targets end up with exactly the desired keys.
        assert!(check_size(Some(&existing), &desired, CreationPolicy::Owner).is_ok());
    }

    #[test]
    fn a_refresh_that_would_write_the_same_hash_labels_and_annotations_changes_nothing() {
        let es: ExternalSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "app", "namespace": "ns", "uid": "u-1", "labels": {"team": "a"}},
            "spec": {"secretStoreRef": {"name": "store"}},
        }))
        .unwrap();
        let shaped = |v: &str| Shaped::plain(BTreeMap::from([("k".to_string(), v.as_bytes().to_vec())]));
        let written = desired_secret(&es, &shaped("one"));
        let mut seen = written.metadata.clone();
        seen.labels.get_or_insert_default().insert("added-by-someone".into(), "x".into());
        assert!(metadata_matches(&seen, &desired_secret(&es, &shaped("one"))), "extra labels of others do not matter");
        assert!(!metadata_matches(&seen, &desired_secret(&es, &shaped("two"))), "new data has a new hash");
        let mut relabelled = es.clone();
        relabelled.labels_mut().insert("team".into(), "b".into());
        assert!(!metadata_matches(&seen, &desired_secret(&relabelled, &shaped("one"))));
        seen.owner_references = None;
        assert!(!metadata_matches(&seen, &desired_secret(&es, &shaped("one"))), "a lost owner reference is restored");
    }

    #[test]
    fn secrets_without_an_owner_reference_record_their_external_secret() {
        let es = |policy: &str| -> ExternalSecret {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "app", "namespace": "ns", "uid": "u-1"},
                "spec": {"secretStoreRef": {"name": "store"}, "target": {"creationPolicy": policy}},
            }))
            .unwrap()
        };
        let shaped = Shaped::plain(BTreeMap::from([("k".to_string(), b"v".to_vec())]));
        for policy in ["Orphan", "Merge", "CreateOrMerge"] {
            let desired = desired_secret(&es(policy), &shaped);
            assert_eq!(desired.annotations().get(OWNER_ANNOTATION).map(String::as_str), Some("app/u-1"), "{policy}");
            assert!(desired.owner_references().is_empty(), "{policy}");
            assert_eq!(recorded_owner(&desired), Some(("app".into(), "u-1".into(), true)), "{policy}");
        }
        let owned = desired_secret(&es("Owner"), &shaped);
        assert!(!owned.annotations().contains_key(OWNER_ANNOTATION), "an ownerReference says it already");
        assert_eq!(recorded_owner(&owned), Some(("app".into(), "u-1".into(), false)));
    }
}
