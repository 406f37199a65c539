//! What a change of another object asks of the ExternalSecret runner: the ExternalSecrets that
//! name it. Each mapper unpacks only the objects of the changed object's namespace that could
//! name it (the record's flags say which).
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;

use super::packed::reference;
use super::{EsRef, ExternalSecretCache, PackedExternalSecret};
use crate::api::{ClusterSecretStore, ExternalSecret, SecretStore, StoreKind};

/// A changed managed Secret: its owner, else the objects of its namespace that target its name.
pub fn by_target(
    secrets: impl Stream<Item = Result<PartialObjectMeta<Secret>, watcher::Error>>,
    cache: ExternalSecretCache,
) -> impl Stream<Item = EsRef> {
    secrets.filter_map(|s| std::future::ready(s.ok())).flat_map(move |secret| {
        let ns = secret.namespace().unwrap_or_default();
        let owner = secret
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true) && o.kind == "ExternalSecret")
            .map(|o| EsRef::new(&ns, &o.name));
        let refs: Vec<EsRef> = match owner {
            Some(r) => vec![r],
            None => {
                // An object whose target carries its own name is matched without unpacking it.
                let name = secret.name_any();
                let may = |p: &PackedExternalSecret| p.uses.renamed_target || p.name() == name;
                let users = cache.unpacked(Some(&ns), may).into_iter().filter(|es| es.target_name() == name);
                users.map(|es| reference(&es)).collect()
            }
        };
        futures::stream::iter(refs)
    })
}

/// A changed ConfigMap: the objects of its namespace whose templates read it.
pub fn by_template(
    config_maps: impl Stream<Item = Result<PartialObjectMeta<ConfigMap>, watcher::Error>>,
    cache: ExternalSecretCache,
) -> impl Stream<Item = EsRef> {
    config_maps.filter_map(|cm| std::future::ready(cm.ok())).flat_map(move |cm| {
        let name = cm.name_any();
        let reads = |es: &ExternalSecret| {
            let from = es.spec.target.template.iter().flat_map(|t| &t.template_from);
            from.filter_map(|f| f.config_map.as_ref()).any(|c| c.name == name)
        };
        let users = cache.unpacked(cm.namespace().as_deref(), |p| p.uses.template_config_maps).into_iter().filter(reads);
        futures::stream::iter(users.map(|es| reference(&es)).collect::<Vec<_>>())
    })
}

/// A changed SecretStore: the objects of its namespace that read from it.
pub fn by_store(stores: impl Stream<Item = Arc<SecretStore>>, cache: ExternalSecretCache) -> impl Stream<Item = EsRef> {
    stores.flat_map(move |store| {
        let key = (store.name_any(), StoreKind::SecretStore);
        let users = cache.unpacked(store.namespace().as_deref(), |_| true).into_iter().filter(|es| es.store_refs().contains(&key));
        futures::stream::iter(users.map(|es| reference(&es)).collect::<Vec<_>>())
    })
}

/// A changed ClusterSecretStore: the objects of any namespace that read from it.
pub fn by_cluster_store(stores: impl Stream<Item = Arc<ClusterSecretStore>>, cache: ExternalSecretCache) -> impl Stream<Item = EsRef> {
    stores.flat_map(move |store| {
        let key = (store.name_any(), StoreKind::ClusterSecretStore);
        let users = cache.unpacked(None, |_| true).into_iter().filter(|es| es.store_refs().contains(&key));
        futures::stream::iter(users.map(|es| reference(&es)).collect::<Vec<_>>())
    })
}
