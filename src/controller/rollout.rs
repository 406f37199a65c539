//! Beyond ESO: restart the workloads that consume a Secret when its data changes, as HashiCorp's
//! VSO does natively and ESO users do with a second controller. Named by an annotation on the
//! ExternalSecret (ESO's schema has no field for it, so manifests stay ESO-valid):
//!
//! `sesame.external-secrets.io/rollout-restart: deployment/api, statefulset/worker`
//!
//! A restart is what `kubectl rollout restart` does: a new `kubectl.kubernetes.io/restartedAt`
//! pod-template annotation. It happens once per change of the Secret's data, never on a refresh
//! that changed nothing, and only in the ExternalSecret's own namespace.
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use super::Context;
use crate::api::ExternalSecret;

/// The annotation naming the workloads to restart.
pub const ROLLOUT_RESTART_ANNOTATION: &str = "sesame.external-secrets.io/rollout-restart";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// The workloads the annotation names, or the first entry it cannot read.
fn parse(value: &str) -> Result<Vec<(Kind, String)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (kind, name) = entry.split_once('/').ok_or_else(|| format!("{entry:?} is not kind/name"))?;
            let kind = match kind.to_ascii_lowercase().as_str() {
                "deployment" | "deployments" | "deploy" => Kind::Deployment,
                "statefulset" | "statefulsets" | "sts" => Kind::StatefulSet,
                "daemonset" | "daemonsets" | "ds" => Kind::DaemonSet,
                _ => return Err(format!("{entry:?}: only deployment, statefulset and daemonset can be restarted")),
            };
            if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
                || name.len() > 253
                || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                return Err(format!("{entry:?}: not a valid object name"));
            }
            Ok((kind, name.to_string()))
        })
        .collect()
}

async fn restart(ctx: &Context, namespace: &str, kind: Kind, name: &str, at: &str) -> Result<(), kube::Error> {
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
    let (patch, params) = (Patch::Merge(&patch), PatchParams::default());
    let client = ctx.client.clone();
    match kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client, namespace).patch(name, &params, &patch).await.map(|_| ()),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client, namespace).patch(name, &params, &patch).await.map(|_| ()),
        Kind::DaemonSet => Api::<DaemonSet>::namespaced(client, namespace).patch(name, &params, &patch).await.map(|_| ()),
    }
}

/// After the target's data changed: restart what the annotation names, one Event per workload.
/// A failure (bad annotation, missing workload, no RBAC) is an Event; the sync itself succeeded.
pub async fn restart_consumers(ctx: &Context, es: &ExternalSecret) {
    let Some(value) = es.annotations().get(ROLLOUT_RESTART_ANNOTATION).cloned() else { return };
    let reference = es.object_ref(&());
    let event = |type_: EventType, reason: &str, note: String| Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "RolloutRestart".into(),
        secondary: None,
    };
    let workloads = match parse(&value) {
        Ok(w) => w,
        Err(why) => {
            ctx.publish(&event(EventType::Warning, "RolloutRestartFailed", format!("{ROLLOUT_RESTART_ANNOTATION}: {why}")), &reference);
            return;
        }
    };
    let namespace = es.namespace().unwrap_or_default();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for (kind, name) in workloads {
        let what = format!("{}/{name}", format!("{kind:?}").to_lowercase());
        match restart(ctx, &namespace, kind, &name, &at).await {
            Ok(()) => {
                ctx.publish(&event(EventType::Normal, "RolloutRestarted", format!("restarted {what}: secret data changed")), &reference)
            }
            Err(e) => {
                let why = match &e {
                    kube::Error::Api(s) if s.code == 404 => "not found".to_string(),
                    kube::Error::Api(s) if s.code == 403 => "forbidden (enable rolloutRestart in the chart to grant patch)".to_string(),
                    other => other.to_string(),
                };
                ctx.publish(&event(EventType::Warning, "RolloutRestartFailed", format!("could not restart {what}: {why}")), &reference)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_names_workloads_by_kind_and_name() {
        assert_eq!(
            parse("deployment/api, statefulset/worker,ds/agent").unwrap(),
            vec![(Kind::Deployment, "api".into()), (Kind::StatefulSet, "worker".into()), (Kind::DaemonSet, "agent".into())]
        );
        assert_eq!(parse(" ").unwrap(), vec![]);
    }

    #[test]
    fn anything_else_is_refused_with_the_entry_named() {
        assert!(parse("pod/api").unwrap_err().contains("pod/api"));
        assert!(parse("deployment").unwrap_err().contains("kind/name"));
        assert!(parse("deployment/../x").unwrap_err().contains("valid object name"));
        assert!(parse("deployment/").unwrap_err().contains("valid object name"));
        assert!(parse("deployment/..").unwrap_err().contains("valid object name"));
    }
}
