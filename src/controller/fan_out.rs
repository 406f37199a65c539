//! What ClusterExternalSecret and ClusterPushSecret share: one namespaced child object per selected
//! namespace, with a controller ownerReference to the cluster object (so the garbage collector
//! removes them with it). A child the cluster object does not own is never overwritten; namespaces
//! that stop matching lose theirs; a renamed child replaces the old ones. Which namespaces hold a
//! child is read from the apiserver on each pass, not only from the status: a child the status
//! forgot (a failed delete, another controller's write) is still found and removed.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use serde::de::DeserializeOwned;

/// ESO's condition message when any namespace failed.
pub const NAMESPACES_FAILED: &str = "one or more namespaces failed";

/// The namespaces selected among `namespaces` (name, labels; terminating ones already left out):
/// by name or by any label selector.
pub fn selected<'a>(
    names: &[String],
    selectors: &[&LabelSelector],
    namespaces: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Result<BTreeSet<String>, String> {
    let selectors = selectors
        .iter()
        .map(|s| Selector::try_from((*s).clone()).map_err(|e| format!("invalid namespace selector: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(namespaces
        .into_iter()
        .filter(|(name, labels)| names.iter().any(|n| n == name) || selectors.iter().any(|s| s.matches(labels)))
        .map(|(name, _)| name.to_string())
        .collect())
}

/// Why a namespace has no child: someone else's is there (for good), or the apiserver failed.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0} already exists in namespace")]
    Taken(&'static str),
    #[error("{0}")]
    Api(String),
}

/// The cluster object whose children are written, and how they are named in messages.
pub struct Fleet<'a> {
    pub client: &'a kube::Client,
    /// `ClusterExternalSecret` or `ClusterPushSecret`.
    pub owner_kind: String,
    pub owner_name: String,
    /// ESO's wording of the child in reasons: `external secret`, `push secret`.
    pub noun: &'static str,
    pub field_manager: &'static str,
}

/// What a pass over the namespaces did: where the child is, and where it could not be handled.
#[derive(Debug, Default)]
pub struct Outcome {
    pub provisioned: Vec<String>,
    pub failed: BTreeMap<String, String>,
    /// A failure the apiserver may not repeat (not a refusal to take someone's child): worth a
    /// retry well before the next refresh.
    pub transient: bool,
}

impl Fleet<'_> {
    /// Whether the child is this cluster object's (ESO checks the owner's kind and name).
    fn owns(&self, meta: &ObjectMeta) -> bool {
        meta.owner_references.iter().flatten().any(|o| o.kind == self.owner_kind && o.name == self.owner_name)
    }

    /// The namespaces holding a child `name` this cluster object owns (one metadata list across
    /// the cluster, by name).
    async fn owned_children<K>(&self, name: &str) -> Result<BTreeSet<String>, String>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let named = ListParams::default().fields(&format!("metadata.name={name}"));
        let list = api.list_metadata(&named).await.map_err(|e| format!("could not list {} {name}: {e}", K::kind(&())))?;
        Ok(list.items.into_iter().filter(|child| self.owns(&child.metadata)).filter_map(|child| child.metadata.namespace).collect())
    }

    /// Where `name` may have a child: what the status recorded and what the apiserver holds.
    async fn holders<K>(&self, name: &str, recorded: &[String], out: &mut Outcome) -> BTreeSet<String>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let mut holders: BTreeSet<String> = recorded.iter().cloned().collect();
        match self.owned_children::<K>(name).await {
            Ok(found) => holders.extend(found),
            // The status's list still applies; the next pass looks again.
            Err(e) => {
                tracing::debug!(error = %e, owner = self.owner_name, "fleet: listing children");
                out.transient = true;
            }
        }
        holders
    }

    /// Deletes the child `name` in `namespace` if this cluster object owns it.
    async fn delete_owned<K>(&self, name: &str, namespace: &str) -> Result<(), String>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let kind = K::kind(&());
        match api.get_metadata_opt(name).await {
            Ok(Some(child)) if self.owns(&child.metadata) => match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(format!("could not delete {kind} {name}: {e}")),
            },
            Ok(_) => Ok(()),
            Err(e) => Err(format!("could not read {kind} {name}: {e}")),
        }
    }

    /// Creates or updates the child in `namespace` (server-side apply of `body`), unless someone
    /// else's is there. Only metadata is read, so a hand-written child Sesame cannot decode is
    /// refused like any other.
    async fn provision<K>(&self, name: &str, namespace: &str, body: &serde_json::Value) -> Result<(), Refusal>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let kind = K::kind(&());
        match api.get_metadata_opt(name).await {
            Ok(Some(existing)) if !self.owns(&existing.metadata) => return Err(Refusal::Taken(self.noun)),
            Ok(_) => {}
            Err(e) => return Err(Refusal::Api(format!("could not get existing {kind}: {e}"))),
        }
        api.patch(name, &PatchParams::apply(self.field_manager).force(), &Patch::Apply(body))
            .await
            .map(|_| ())
            .map_err(|e| Refusal::Api(format!("could not create or update {}: {e}", self.noun)))
    }

    /// One pass: the children of a previous name go, namespaces no longer selected lose theirs,
    /// and every selected namespace gets `child(namespace)`.
    pub async fn sync<K>(
        &self,
        name: &str,
        previous: Option<(&str, &[String])>,
        targets: Result<BTreeSet<String>, String>,
        child: impl Fn(&str) -> serde_json::Value,
    ) -> Outcome
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let mut out = Outcome::default();
        let provisioned_before = previous.map(|(_, p)| p).unwrap_or_default();
        if let Some((old_name, namespaces)) = previous.filter(|(old, _)| *old != name) {
            for ns in self.holders::<K>(old_name, namespaces, &mut out).await {
                if let Err(e) = self.delete_owned::<K>(old_name, &ns).await {
                    out.failed.insert(ns, e);
                    out.transient = true;
                }
            }
        }
        let targets = match targets {
            Ok(t) => t,
            Err(e) => {
                out.failed.insert("unknown".into(), e);
                return out;
            }
        };
        let holders = self.holders::<K>(name, provisioned_before, &mut out).await;
        for ns in holders.iter().filter(|ns| !targets.contains(*ns)) {
            if let Err(e) = self.delete_owned::<K>(name, ns).await {
                out.failed.insert(ns.clone(), e);
                out.transient = true;
            }
        }
        for ns in &targets {
            match self.provision::<K>(name, ns, &child(ns)).await {
                Ok(()) => out.provisioned.push(ns.clone()),
                Err(refused @ Refusal::Taken(_)) => {
                    out.failed.insert(ns.clone(), refused.to_string());
                }
                Err(e) => {
                    out.failed.insert(ns.clone(), e.to_string());
                    out.transient = true;
                }
            }
        }
        out
    }
}
