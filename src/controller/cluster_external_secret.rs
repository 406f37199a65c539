//! ClusterExternalSecret: one ExternalSecret per selected namespace (the controller is
//! [`super::fleet`]; ownership, removal and renames are [`super::fan_out`]'s).
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{Resource, ResourceExt};

use super::fan_out::{NAMESPACES_FAILED, Outcome};
use super::fleet::FleetOwner;
use crate::api::GoDuration;
use crate::api::{
    ClusterExternalSecret, ClusterExternalSecretNamespaceFailure, ClusterExternalSecretStatus, ClusterExternalSecretStatusCondition,
    ExternalSecret, FORCE_SYNC_ANNOTATION,
};
use crate::metrics::Metrics;

impl FleetOwner for ClusterExternalSecret {
    type Child = ExternalSecret;
    type Status = ClusterExternalSecretStatus;
    const NOUN: &'static str = "external secret";
    const FIELD_MANAGER: &'static str = "sesame.external-secrets.io/clusterexternalsecret";

    fn refresh_time(&self) -> Option<&GoDuration> {
        self.spec.refresh_interval.as_ref()
    }

    fn child_name(&self) -> String {
        self.spec.external_secret_name.clone().unwrap_or_else(|| self.name_any())
    }

    /// By name, by the selectors, or by the deprecated single selector.
    fn selection(&self) -> (&[String], Vec<&LabelSelector>) {
        let spec = &self.spec;
        (&spec.namespaces, spec.namespace_selector.iter().chain(&spec.namespace_selectors).collect())
    }

    fn child(&self, name: &str, namespace: &str) -> serde_json::Value {
        let metadata = self.spec.external_secret_metadata.clone().unwrap_or_default();
        let mut annotations = metadata.annotations;
        // A force-sync of the ClusterExternalSecret reaches every ExternalSecret it made (as ESO).
        if let Some(value) = self.annotations().get(FORCE_SYNC_ANNOTATION) {
            annotations.insert(FORCE_SYNC_ANNOTATION.into(), value.clone());
        }
        serde_json::json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "metadata": {
                "name": name, "namespace": namespace, "labels": metadata.labels, "annotations": annotations,
                "ownerReferences": [self.controller_owner_ref(&())],
            },
            "spec": self.spec.external_secret_spec,
        })
    }

    fn status_of(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn previous(status: &Self::Status) -> Option<(&str, &[String])> {
        status.external_secret_name.as_deref().map(|p| (p, status.provisioned_namespaces.as_slice()))
    }

    fn next_status(old: &Self::Status, child_name: String, Outcome { provisioned, failed, .. }: Outcome) -> Self::Status {
        let ready = failed.is_empty();
        // ESO's ClusterExternalSecret conditions carry no transition time.
        let mut conditions: Vec<_> = old.conditions.iter().filter(|c| c.type_ != "Ready").cloned().collect();
        conditions.push(ClusterExternalSecretStatusCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            message: (!ready).then(|| NAMESPACES_FAILED.to_string()),
        });
        ClusterExternalSecretStatus {
            external_secret_name: Some(child_name),
            failed_namespaces: failed
                .into_iter()
                .map(|(namespace, reason)| ClusterExternalSecretNamespaceFailure { namespace, reason: Some(reason) })
                .collect(),
            provisioned_namespaces: provisioned,
            conditions,
        }
    }

    fn status_patch(status: &Self::Status) -> serde_json::Value {
        serde_json::json!({
            "externalSecretName": status.external_secret_name,
            "failedNamespaces": status.failed_namespaces,
            "provisionedNamespaces": status.provisioned_namespaces,
            "conditions": status.conditions,
        })
    }

    fn reconciled(metrics: &Metrics, name: &str, ready: bool, took: Duration) {
        metrics.ces_reconciled(name, ready, took);
    }

    fn deleted(metrics: &Metrics, name: &str) {
        metrics.ces_deleted(name);
    }
}
