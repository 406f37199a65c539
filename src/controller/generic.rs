//! The sink of a generic target (`target.manifest`, behind `--unsafe-allow-generic-targets`): a
//! ConfigMap or custom resource written by server-side apply with ESO's ownership, managed label
//! and data-hash, so drift is detected as ESO detects it. What may be targeted is bounded twice:
//! by the RBAC the chart grants (`genericTargets.resources`), and by a refusal of the kinds that
//! would hand a tenant more than a ConfigMap's worth of power (see [`refuse_kind`]).
use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::{Context, Error};
use crate::api::{CREATED_BY_LABEL, CreationPolicy, DATA_HASH_ANNOTATION, DeletionPolicy, ExternalSecret, MANAGED_LABEL};
use crate::pipeline::{self, LoadedTemplates, manifest};

/// The only core (`v1`) resource a generic target may be.
const CORE_ALLOWED: &[&str] = &["configmaps"];
/// API groups never written as a generic target, whatever RBAC grants: RBAC and admission
/// (escalation), workloads (they run pods, with any ServiceAccount of the namespace), API and
/// certificate machinery, leases (leader elections), and this API's own objects (an
/// ExternalSecret or store could read what the tenant may not).
const DENIED_GROUPS: &[&str] = &[
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "apps",
    "batch",
    "policy",
    "discovery.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "resource.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "external-secrets.io",
    "generators.external-secrets.io",
];

/// Why a kind may not be a generic target, if it may not.
pub fn refuse_kind(ar: &ApiResource, namespaced: bool) -> Result<(), String> {
    let what = format!("target.manifest ({} {})", ar.api_version, ar.kind);
    if !namespaced {
        return Err(format!("{what}: a generic target must be a namespaced kind"));
    }
    if ar.group.is_empty() && !CORE_ALLOWED.contains(&ar.plural.as_str()) {
        let hint = if ar.plural == "secrets" { " (a Secret is the default target: remove target.manifest)" } else { "" };
        return Err(format!("{what}: the only core kind a generic target may be is ConfigMap{hint}"));
    }
    if DENIED_GROUPS.contains(&ar.group.as_str()) {
        return Err(format!("{what}: the API group {} is never written as a generic target", ar.group));
    }
    Ok(())
}

/// What a generic sync did, for the Ready condition and the Event.
pub enum Written {
    Synced { created: bool, changed: bool },
    Retained,
    Deleted,
    Missing,
    Skipped,
}

/// A resolved generic target: its kind is allowed and being watched.
pub struct Target {
    ar: ApiResource,
    api: Api<DynamicObject>,
    name: String,
}

/// Checks the flag, the paths and the kind, and starts watching the kind.
pub async fn resolve(ctx: &Context, es: &ExternalSecret) -> Result<Target, Error> {
    let Some(m) = &es.spec.target.manifest else { unreachable!("resolve is called for generic targets") };
    if !ctx.generic.allowed {
        return Err(Error::InvalidSpec("generic targets are disabled. Enable with --unsafe-allow-generic-targets flag".into()));
    }
    manifest::validate(es.spec.target.template.as_deref()).map_err(Error::InvalidSpec)?;
    let (ar, namespaced) = ctx.generic.discover(&m.api_version, &m.kind).await?;
    refuse_kind(&ar, namespaced).map_err(Error::InvalidSpec)?;
    ctx.generic.watch(&ar);
    let api = ctx.generic.api(&ar, &es.namespace().unwrap_or_default());
    Ok(Target { ar, api, name: es.target_name() })
}

fn content(obj: &Value) -> (&Value, &Value) {
    (&obj["spec"], &obj["data"])
}

/// Labelled as managed, with a data-hash that matches its content: ESO's test.
fn holds_last_write(obj: &Value) -> bool {
    let meta = &obj["metadata"];
    meta["labels"][MANAGED_LABEL] == "true"
        && meta["annotations"][DATA_HASH_ANNOTATION].as_str().is_some_and(|h| Some(h.to_string()) == pipeline::content_hash(obj))
}

impl Target {
    async fn read(&self) -> Result<Option<Value>, Error> {
        Ok(self.api.get_opt(&self.name).await?.map(|o| serde_json::to_value(o).expect("an object serializes")))
    }

    /// Whether the target still holds what was last written to it. As in ESO, an Orphan
    /// target is never repaired (only a spec change or a refresh writes it).
    pub async fn intact(&self, es: &ExternalSecret) -> Result<bool, Error> {
        match es.spec.target.creation_policy {
            CreationPolicy::None | CreationPolicy::Orphan => return Ok(true),
            CreationPolicy::Merge
                if es.status.iter().flat_map(|s| &s.conditions).any(|c| c.reason.as_deref() == Some("ResourceMissing")) =>
            {
                return Ok(self.read().await?.is_none());
            }
            _ => {}
        }
        Ok(self.read().await?.is_some_and(|o| holds_last_write(&o)))
    }

    /// Writes the object per the creation and deletion policies.
    pub async fn write(
        &self,
        ctx: &Context,
        es: &ExternalSecret,
        data: &BTreeMap<String, Vec<u8>>,
        loaded: &LoadedTemplates,
    ) -> Result<Written, Error> {
        let t = &es.spec.target;
        if t.creation_policy == CreationPolicy::None {
            return Ok(Written::Skipped);
        }
        let existing = self.read().await?;
        if let Some(obj) = &existing {
            check_takeover(es, obj, &self.ar)?;
        }
        if data.is_empty() {
            match t.deletion_policy {
                DeletionPolicy::Retain => return Ok(Written::Retained),
                DeletionPolicy::Delete => {
                    if existing.is_some() {
                        match self.api.delete(&self.name, &DeleteParams::default()).await {
                            Ok(_) => {}
                            Err(kube::Error::Api(e)) if e.code == 404 => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    return Ok(Written::Deleted);
                }
                DeletionPolicy::Merge => {}
            }
        }
        if t.creation_policy == CreationPolicy::Merge && existing.is_none() {
            return Ok(Written::Missing);
        }
        let namespace = es.namespace().unwrap_or_default();
        let (labels, annotations) = (es.labels().clone(), es.annotations().clone());
        let inputs = manifest::Inputs {
            reference: t.manifest.as_ref().expect("a generic target"),
            name: &self.name,
            namespace: &namespace,
            labels: &labels,
            annotations: &annotations,
            template: t.template.as_deref(),
            loaded,
            data,
        };
        // What we apply holds only our fields; a merging policy hashes the merged object, as ESO.
        let base = existing.as_ref().filter(|_| t.creation_policy.merges());
        let limits = ctx.renders.limits().clone();
        let (mut desired, merged) = ctx
            .renders
            .run_as(super::rendering::key(es), |cancel| {
                let desired = manifest::build(&inputs, None, &limits, Some(cancel.clone()))?;
                let merged = base.map(|b| manifest::build(&inputs, Some(b), &limits, Some(cancel))).transpose()?;
                Ok((desired, merged))
            })
            .await
            .map_err(Error::Template)?;
        let hash = pipeline::content_hash(merged.as_ref().unwrap_or(&desired))
            .ok_or_else(|| Error::InvalidSpec("the generic target has neither spec nor data".into()))?;
        desired["metadata"]["annotations"][DATA_HASH_ANNOTATION] = hash.into();
        if t.creation_policy == CreationPolicy::Owner {
            desired["metadata"]["labels"][CREATED_BY_LABEL] = pipeline::created_by(&namespace, &es.name_any()).into();
            desired["metadata"]["ownerReferences"] =
                serde_json::to_value([es.controller_owner_ref(&()).expect("a stored object")]).expect("serializes");
        }
        // Too large: the provider's data may shrink, so retried at the refresh interval.
        manifest::check_size(&desired).map_err(|e| Error::Fetch(pipeline::FetchError::Invalid(e)))?;
        let manager = super::field_manager(&es.name_any());
        let mut applied = self.api.patch(&self.name, &PatchParams::apply(&manager).force(), &Patch::Apply(&desired)).await?;
        // Owner and Orphan targets hold exactly what the ExternalSecret renders (ESO replaces
        // the object): content others added is removed.
        if matches!(t.creation_policy, CreationPolicy::Owner | CreationPolicy::Orphan) {
            let after = serde_json::to_value(&applied).expect("an object serializes");
            let ops: Vec<Value> = ["spec", "data"]
                .into_iter()
                .filter(|f| !desired[*f].is_null() && after[*f] != desired[*f])
                .map(|f| serde_json::json!({"op": "add", "path": format!("/{f}"), "value": desired[f]}))
                .collect();
            if !ops.is_empty() {
                let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).expect("valid JSON patch");
                applied = self.api.patch(&self.name, &PatchParams::default(), &Patch::<()>::Json(patch)).await?;
            }
        }
        let after = serde_json::to_value(&applied).expect("an object serializes");
        let changed = existing.as_ref().is_none_or(|before| content(before) != content(&after));
        Ok(Written::Synced { created: existing.is_none(), changed })
    }

    /// `ConfigMap app`, for Events.
    pub fn describe(&self) -> String {
        format!("{} {}", self.ar.kind, self.name)
    }
}

/// ESO's ownership rule (another ExternalSecret controls it: refused), and Sesame's rule for
/// Secrets: an object no ExternalSecret manages is written only by a merging policy.
fn check_takeover(es: &ExternalSecret, obj: &Value, ar: &ApiResource) -> Result<(), Error> {
    let owners: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> =
        serde_json::from_value(obj["metadata"]["ownerReferences"].clone()).unwrap_or_default();
    let target = format!("{} {}", ar.kind, es.target_name());
    if let Some(o) = owners.iter().find(|o| o.controller == Some(true) && o.kind == "ExternalSecret" && o.name != es.name_any()) {
        return Err(Error::TargetConflict(format!("target {target} is owned by another ExternalSecret ({})", o.name)));
    }
    if obj["metadata"]["labels"][MANAGED_LABEL] != "true" && !es.spec.target.creation_policy.merges() {
        return Err(Error::TargetConflict(format!(
            "target {target} exists and is not managed by an ExternalSecret; use creationPolicy Merge or CreateOrMerge to write into it"
        )));
    }
    Ok(())
}
