//! ClusterPushSecret: one PushSecret per namespace its `namespaceSelectors` select, as ESO 2.9
//! (the controller is [`super::fleet`]; ownership, removal and renames are [`super::fan_out`]'s).
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{Resource, ResourceExt};

use super::fan_out::{NAMESPACES_FAILED, Outcome};
use super::fleet::FleetOwner;
use crate::api::GoDuration;
use crate::api::{ClusterPushSecret, ClusterPushSecretNamespaceFailure, ClusterPushSecretStatus, Condition, PushSecret, set_condition};
use crate::metrics::Metrics;

impl FleetOwner for ClusterPushSecret {
    type Child = PushSecret;
    type Status = ClusterPushSecretStatus;
    const NOUN: &'static str = "push secret";
    const FIELD_MANAGER: &'static str = "sesame.external-secrets.io/clusterpushsecret";

    fn refresh_time(&self) -> Option<&GoDuration> {
        self.spec.refresh_interval.as_ref()
    }

    fn child_name(&self) -> String {
        self.spec.push_secret_name.clone().unwrap_or_else(|| self.name_any())
    }

    /// By label selectors, as ESO 2.9, or by name (Sesame's addition).
    fn selection(&self) -> (&[String], Vec<&LabelSelector>) {
        (&self.spec.namespaces, self.spec.namespace_selectors.iter().collect())
    }

    fn child(&self, name: &str, namespace: &str) -> serde_json::Value {
        let metadata = self.spec.push_secret_metadata.clone().unwrap_or_default();
        serde_json::json!({
            "apiVersion": "external-secrets.io/v1alpha1",
            "kind": "PushSecret",
            "metadata": {
                "name": name, "namespace": namespace, "labels": metadata.labels, "annotations": metadata.annotations,
                "ownerReferences": [self.controller_owner_ref(&())],
            },
            "spec": self.spec.push_secret_spec,
        })
    }

    fn status_of(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }

    fn previous(status: &Self::Status) -> Option<(&str, &[String])> {
        status.push_secret_name.as_deref().map(|p| (p, status.provisioned_namespaces.as_slice()))
    }

    fn next_status(old: &Self::Status, child_name: String, Outcome { provisioned, failed, .. }: Outcome) -> Self::Status {
        let ready = failed.is_empty();
        let mut conditions = old.conditions.clone();
        let condition = Condition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: None,
            message: (!ready).then(|| NAMESPACES_FAILED.to_string()),
            last_transition_time: None,
        };
        set_condition(&mut conditions, condition, &super::now_rfc3339());
        ClusterPushSecretStatus {
            failed_namespaces: failed
                .into_iter()
                .map(|(namespace, reason)| ClusterPushSecretNamespaceFailure { namespace, reason: Some(reason) })
                .collect(),
            provisioned_namespaces: provisioned,
            push_secret_name: Some(child_name),
            conditions,
        }
    }

    fn status_patch(status: &Self::Status) -> serde_json::Value {
        serde_json::json!({
            "pushSecretName": status.push_secret_name,
            "failedNamespaces": status.failed_namespaces,
            "provisionedNamespaces": status.provisioned_namespaces,
            "conditions": status.conditions,
        })
    }

    fn reconciled(metrics: &Metrics, name: &str, ready: bool, took: Duration) {
        metrics.cps_reconciled(name, ready, took);
    }

    fn deleted(metrics: &Metrics, name: &str) {
        metrics.cps_deleted(name);
    }
}
