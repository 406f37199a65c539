//! Which Google credentials a store uses, in ESO's order: `auth.secretRef` (service-account key),
//! then `auth.workloadIdentity`, then `auth.workloadIdentityFederation`, else application
//! default credentials.
use std::sync::Arc;

use google_cloud_auth::credentials::{Credentials, service_account};
use sesame_provider_core::{ProviderContext, ProviderError, SecretKeySelector};

use crate::endpoints::Endpoints;
use crate::federation::federation_config;
use crate::workload_identity::{Flow, WorkloadIdentityConfig, WorkloadIdentityCredentials};
use crate::{GcpProvider, GcpWorkloadIdentity};

/// The credentials of a store, and the project they imply when the store names none.
pub(crate) struct StoreAuth {
    /// `None`: application default credentials, chosen by the SDK.
    pub credentials: Option<Credentials>,
    pub implied_project: Option<String>,
    pub method: &'static str,
}

pub(crate) async fn store_auth(spec: &GcpProvider, ctx: &ProviderContext, endpoints: &Endpoints) -> Result<StoreAuth, ProviderError> {
    let auth = spec.auth.clone().unwrap_or_default();
    if let Some(secret_ref) = &auth.secret_ref {
        let (key, where_) = service_account_key(&secret_ref.secret_access_key_secret_ref, ctx).await?;
        let implied_project = key.get("project_id").and_then(|p| p.as_str()).map(str::to_string);
        let credentials = service_account::Builder::new(key).build().map_err(|_| unusable_key(&where_))?;
        return Ok(StoreAuth { credentials: Some(credentials), implied_project, method: "serviceAccountKey" });
    }
    if let Some(wi) = &auth.workload_identity {
        let config = workload_identity_config(wi, spec.project_id.as_deref())?;
        let implied_project = wi.cluster_project_id.clone();
        let provider = WorkloadIdentityCredentials::new(Flow::Gke(config), ctx.clone(), endpoints.clone())?;
        return Ok(StoreAuth { credentials: Some(Credentials::from(provider)), implied_project, method: "workloadIdentity" });
    }
    if let Some(wif) = &auth.workload_identity_federation {
        let config = federation_config(wif, ctx).await?;
        let provider = WorkloadIdentityCredentials::new(Flow::Federation(Arc::new(config)), ctx.clone(), endpoints.clone())?;
        return Ok(StoreAuth {
            credentials: Some(Credentials::from(provider)),
            implied_project: None,
            method: "workloadIdentityFederation",
        });
    }
    Ok(StoreAuth { credentials: None, implied_project: None, method: "applicationDefault" })
}

/// The service-account key JSON that `selector` names, and how to name it in errors.
pub(crate) async fn service_account_key(
    selector: &SecretKeySelector,
    ctx: &ProviderContext,
) -> Result<(serde_json::Value, String), ProviderError> {
    let where_ = format!("secret {} key {}", selector.name, selector.key.as_deref().unwrap_or("<unset>"));
    let raw = ctx.credentials.secret_key(selector, None).await?;
    // Never echo the parser's message: it may quote a fragment of the key.
    let key: serde_json::Value = serde_json::from_slice(raw.as_bytes())
        .map_err(|_| ProviderError::Invalid(format!("{where_} is not a service-account key JSON")))?;
    if key.get("type").and_then(|t| t.as_str()).is_some_and(|t| t != "service_account") {
        return Err(ProviderError::Invalid(format!("{where_} is not a service-account key (type is not service_account)")));
    }
    Ok((key, where_))
}

pub(crate) fn unusable_key(where_: &str) -> ProviderError {
    ProviderError::Invalid(format!(
        "{where_} is not a usable service-account key (it needs client_email, private_key_id, private_key and project_id)"
    ))
}

pub(crate) fn workload_identity_config(
    wi: &GcpWorkloadIdentity,
    project_id: Option<&str>,
) -> Result<WorkloadIdentityConfig, ProviderError> {
    let required = |v: &Option<String>, field: &str| {
        v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
            ProviderError::Invalid(format!("auth.workloadIdentity.{field} is required (Sesame does not query the GKE metadata server)"))
        })
    };
    let location = required(&wi.cluster_location, "clusterLocation")?;
    let name = required(&wi.cluster_name, "clusterName")?;
    let cluster_project = required(&wi.cluster_project_id.clone().or(project_id.map(str::to_string)), "clusterProjectID")?;
    if wi.service_account_ref.name.is_empty() {
        return Err(ProviderError::Invalid("auth.workloadIdentity.serviceAccountRef.name is required".into()));
    }
    Ok(WorkloadIdentityConfig {
        service_account: wi.service_account_ref.clone(),
        pool: format!("{cluster_project}.svc.id.goog"),
        provider: format!("https://container.googleapis.com/v1/projects/{cluster_project}/locations/{location}/clusters/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_provider_core::ServiceAccountSelector;

    fn wi() -> GcpWorkloadIdentity {
        GcpWorkloadIdentity {
            service_account_ref: ServiceAccountSelector { name: "ksa".into(), ..Default::default() },
            cluster_location: Some("europe-west1".into()),
            cluster_name: Some("c1".into()),
            cluster_project_id: None,
        }
    }

    #[test]
    fn the_pool_and_provider_follow_the_gke_cluster() {
        let c = workload_identity_config(&wi(), Some("p1")).unwrap();
        assert_eq!(c.pool, "p1.svc.id.goog");
        assert_eq!(c.provider, "https://container.googleapis.com/v1/projects/p1/locations/europe-west1/clusters/c1");
        let c = workload_identity_config(&GcpWorkloadIdentity { cluster_project_id: Some("cp".into()), ..wi() }, Some("p1")).unwrap();
        assert_eq!(c.pool, "cp.svc.id.goog");
    }

    #[test]
    fn a_missing_cluster_field_is_invalid() {
        let err = workload_identity_config(&GcpWorkloadIdentity { cluster_name: None, ..wi() }, Some("p")).unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(m) if m.contains("clusterName")));
        assert!(workload_identity_config(&wi(), None).is_err());
    }
}
