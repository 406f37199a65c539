//! Generic targets' kinds: discovered once each (apiVersion and kind to resource and scope), and
//! watched from the first ExternalSecret that targets them, by metadata and on the managed label
//! only, so an edit or deletion of a target re-queues its ExternalSecret (drift repair, as ESO's
//! informer manager). Nothing runs while `--unsafe-allow-generic-targets` is off.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::discovery::Scope;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use super::{EsRef, ExternalSecretCache};
use crate::api::{ExternalSecret, MANAGED_LABEL};

/// A discovered kind: its resource, and whether it is namespaced.
pub type Kind = (ApiResource, bool);

pub struct GenericTargets {
    client: kube::Client,
    namespace: Option<String>,
    /// `--unsafe-allow-generic-targets`.
    pub allowed: bool,
    kinds: Mutex<HashMap<(String, String), Kind>>,
    watched: Mutex<HashSet<String>>,
    requeue: mpsc::UnboundedSender<EsRef>,
    es: ExternalSecretCache,
}

impl GenericTargets {
    /// The registry, and the stream of ExternalSecrets whose target changed.
    pub fn new(
        client: kube::Client,
        namespace: Option<String>,
        allowed: bool,
        es: ExternalSecretCache,
    ) -> (Arc<Self>, impl Stream<Item = EsRef> + Send + 'static) {
        let (requeue, rx) = mpsc::unbounded_channel();
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        let this = GenericTargets { client, namespace, allowed, kinds: Mutex::default(), watched: Mutex::default(), requeue, es };
        (Arc::new(this), stream)
    }

    /// The resource of `apiVersion`/`kind`, asked of the apiserver once (a kind that is not
    /// served yet is asked again at the next sync).
    pub async fn discover(&self, api_version: &str, kind: &str) -> Result<Kind, kube::Error> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.kinds.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &GroupVersionKind::gvk(group, version, kind)).await?;
        let found = (ar, matches!(caps.scope, Scope::Namespaced));
        self.kinds.lock().unwrap_or_else(|p| p.into_inner()).insert(key, found.clone());
        Ok(found)
    }

    /// The API of `ar` in `namespace`.
    pub fn api(&self, ar: &ApiResource, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, ar)
    }

    /// Starts the watch of `ar`'s managed objects, once.
    pub fn watch(&self, ar: &ApiResource) {
        let id = format!("{}/{}/{}", ar.group, ar.version, ar.plural);
        if !self.watched.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone()) {
            return;
        }
        // Metadata only: the watch keeps no payload.
        let api: Api<PartialObjectMeta<DynamicObject>> = match &self.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true"));
        let (requeue, es, ar) = (self.requeue.clone(), self.es.clone(), ar.clone());
        tracing::info!(resource = %id, "watching generic targets");
        tokio::spawn(async move {
            let mut changes = std::pin::pin!(watcher(api, config).default_backoff().touched_objects());
            while let Some(change) = changes.next().await {
                let Ok(meta) = change else { continue };
                for r in owners(&es, &ar, &meta.metadata) {
                    if requeue.send(r).is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// The ExternalSecrets an object of `ar` belongs to: its controller (Owner), else those in its
/// namespace that target its kind under its name.
fn owners(es: &ExternalSecretCache, ar: &ApiResource, meta: &kube::api::ObjectMeta) -> Vec<EsRef> {
    let ns = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let controller = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == ExternalSecret::kind(&()));
    if let Some(o) = controller {
        return vec![EsRef::new(&ns, &o.name)];
    }
    es.unpacked(Some(&ns), |p| p.uses.manifest)
        .into_iter()
        .filter(|e| e.target_name() == name)
        .filter(|e| e.spec.target.manifest.as_ref().is_some_and(|m| m.kind == ar.kind && m.api_version == ar.api_version))
        .map(|e| super::packed::reference(&e))
        .collect()
}
