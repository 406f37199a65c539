//! ClusterExternalSecret and ClusterPushSecret in `sesame render`: each becomes the namespaced
//! children the controller would write (through the same [`FleetOwner`] code), which then render
//! like any ExternalSecret or PushSecret in the files.
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;

use super::Manifests;
use crate::api::{ExternalSecret, PushSecret};
use crate::controller::FleetOwner;
use crate::controller::fan_out_selected as selected;

/// The children of every cluster object in the files, and one line per object that could not be
/// expanded.
pub fn expand_all(m: &Manifests) -> (Vec<ExternalSecret>, Vec<PushSecret>, Vec<String>) {
    let mut errors = Vec::new();
    let mut external_secrets = Vec::new();
    for ces in &m.cluster_external_secrets {
        match expand(ces, &m.namespaces) {
            Ok(children) => external_secrets.extend(children),
            Err(e) => errors.push(format!("ClusterExternalSecret {}: {e}", ces.name_any())),
        }
    }
    let mut push_secrets = Vec::new();
    for cps in &m.cluster_push_secrets {
        match expand(cps, &m.namespaces) {
            Ok(children) => push_secrets.extend(children),
            Err(e) => errors.push(format!("ClusterPushSecret {}: {e}", cps.name_any())),
        }
    }
    (external_secrets, push_secrets, errors)
}

/// One child per selected namespace. The namespaces are the Namespace objects in the files, plus
/// those the owner names outright: with no cluster to ask, a named namespace is taken to exist.
fn expand<K: FleetOwner>(owner: &K, namespaces: &[Namespace]) -> Result<Vec<K::Child>, String> {
    let (names, selectors) = owner.selection();
    let known: Vec<(String, std::collections::BTreeMap<String, String>)> = namespaces
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_none())
        .map(|ns| (ns.name_any(), ns.labels().clone()))
        .chain(names.iter().filter(|n| !namespaces.iter().any(|ns| &ns.name_any() == *n)).map(|n| (n.clone(), Default::default())))
        .collect();
    let targets = selected(names, &selectors, known.iter().map(|(n, l)| (n.as_str(), l)))?;
    let name = owner.child_name();
    targets
        .iter()
        .map(|ns| {
            let mut child = owner.child(&name, ns);
            // A file's object has no uid, so no owner reference can be made; none is needed here.
            if let Some(meta) = child.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("ownerReferences");
            }
            serde_json::from_value(child).map_err(|e| format!("the child for namespace {ns} is invalid: {e}"))
        })
        .collect()
}
