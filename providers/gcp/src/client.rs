//! The provider on the official `google-cloud-secretmanager-v1` client.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::paginator::ItemPaginator as _;
use google_cloud_secretmanager_v1::client::SecretManagerService;
use google_cloud_secretmanager_v1::model::secret_version::State;
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider,
    SecretValue,
};

use crate::auth::store_auth;
use crate::endpoints::Endpoints;
use crate::errors::{classify, read_backoff, read_retry_policy};
use crate::{GcpProvider, SecretVersionSelectionPolicy};

/// The `provider` label of the call metrics.
pub const PROVIDER_NAME: &str = "GCP/SecretManager";

/// Build a client for a store, with endpoints from the environment ([`Endpoints::from_env`]).
pub async fn build(spec: &GcpProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    build_with_endpoints(spec, ctx, Endpoints::from_env()).await
}

/// [`build`] with explicit endpoints: the only thing tests change.
pub async fn build_with_endpoints(
    spec: &GcpProvider,
    ctx: ProviderContext,
    endpoints: Endpoints,
) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    Ok(Arc::new(GcpClient::new(spec, ctx, endpoints).await?))
}

/// A Secret Manager client for one store. The SDK client (its connection pool) and the
/// credentials (their token cache) live as long as this value; nothing is shared across stores
/// and no call waits on another store's.
pub struct GcpClient {
    sm: SecretManagerService,
    /// `projects/{p}` or `projects/{p}/locations/{l}`
    parent: String,
    policy: SecretVersionSelectionPolicy,
    ctx: ProviderContext,
}

impl GcpClient {
    pub async fn new(spec: &GcpProvider, ctx: ProviderContext, endpoints: Endpoints) -> Result<Self, ProviderError> {
        spec.check_urls()?;
        let auth = store_auth(spec, &ctx, &endpoints).await?;
        let project = spec
            .project_id
            .clone()
            .filter(|p| !p.is_empty())
            .or(auth.implied_project.clone())
            .ok_or_else(|| ProviderError::Invalid("projectID is required".into()))?;
        let location = spec.location.clone().filter(|l| !l.is_empty());
        let credentials = match auth.credentials {
            Some(c) => c,
            None => google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|e| ProviderError::Auth(format!("no application default credentials for the GCP store: {e}")))?,
        };
        let mut builder = SecretManagerService::builder()
            .with_credentials(credentials)
            .with_retry_policy(read_retry_policy())
            .with_backoff_policy(read_backoff());
        if let Some(endpoint) = endpoints.secret_manager_for(location.as_deref()) {
            builder = builder.with_endpoint(endpoint);
        }
        let sm = builder.build().await.map_err(|e| ProviderError::Invalid(format!("cannot build the Secret Manager client: {e}")))?;
        let parent = match &location {
            Some(l) => format!("projects/{project}/locations/{l}"),
            None => format!("projects/{project}"),
        };
        tracing::debug!(%parent, auth = auth.method, "built GCP Secret Manager client");
        Ok(GcpClient { sm, parent, policy: spec.secret_version_selection_policy.unwrap_or_default(), ctx })
    }

    pub(crate) fn parent(&self) -> &str {
        &self.parent
    }

    pub(crate) fn sm(&self) -> &SecretManagerService {
        &self.sm
    }

    pub(crate) fn ctx(&self) -> &ProviderContext {
        &self.ctx
    }

    pub(crate) fn secret_name(&self, key: &str) -> Result<String, ProviderError> {
        if key.is_empty() || key.contains('/') {
            return Err(ProviderError::Invalid(format!("{key:?} is not a Secret Manager secret id")));
        }
        Ok(format!("{}/secrets/{key}", self.parent))
    }

    /// The secret id of a full resource name (`projects/123/secrets/db` → `db`).
    pub(crate) fn secret_id(name: &str) -> &str {
        name.rsplit_once("/secrets/").map_or(name, |(_, id)| id)
    }

    pub(crate) async fn access(&self, version_name: &str) -> Result<SecretValue, ProviderError> {
        let resp = self
            .ctx
            .timed(PROVIDER_NAME, "AccessSecretVersion", async {
                self.sm.access_secret_version().set_name(version_name).send().await.map_err(|e| classify(&e, version_name))
            })
            .await?;
        let payload = resp.payload.ok_or_else(|| ProviderError::Invalid(format!("{version_name}: the response carries no payload")))?;
        if let Some(expected) = payload.data_crc32c
            && i64::from(crc32c::crc32c(&payload.data)) != expected
        {
            return Err(ProviderError::Transient(format!("{version_name}: payload CRC32C mismatch, the data was corrupted in transit")));
        }
        Ok(SecretValue::from(payload.data.to_vec()))
    }

    /// `LatestOrFetch`: the newest enabled version, by creation time; `latest` when none is
    /// enabled, so the error says why.
    pub(crate) async fn newest_enabled(&self, secret: &str) -> Result<SecretValue, ProviderError> {
        let versions = self
            .ctx
            .timed(PROVIDER_NAME, "ListSecretVersions", async {
                let mut items = self.sm.list_secret_versions().set_parent(secret).set_filter("state:ENABLED").by_item();
                let mut newest: Option<((i64, i32), String)> = None;
                while let Some(v) = items.next().await {
                    let v = v.map_err(|e| classify(&e, secret))?;
                    if v.state != State::Enabled {
                        continue;
                    }
                    let created = v.create_time.map(|t| (t.seconds(), t.nanos())).unwrap_or_default();
                    if newest.as_ref().is_none_or(|(t, _)| created > *t) {
                        newest = Some((created, v.name));
                    }
                }
                Ok(newest.map(|(_, name)| name))
            })
            .await?;
        self.access(&versions.unwrap_or_else(|| format!("{secret}/versions/latest"))).await
    }

    /// `metadataPolicy: Fetch`: `{"annotations":{…},"labels":{…}}`, keys sorted as Go's
    /// `json.Marshal` sorts them; `property` (`labels.env`, `annotations`) then selects from it.
    async fn metadata(&self, secret: &str) -> Result<SecretValue, ProviderError> {
        let s = self
            .ctx
            .timed(PROVIDER_NAME, "GetSecret", async {
                self.sm.get_secret().set_name(secret).send().await.map_err(|e| classify(&e, secret))
            })
            .await?;
        let doc = serde_json::json!({
            "annotations": s.annotations.into_iter().collect::<BTreeMap<_, _>>(),
            "labels": s.labels.into_iter().collect::<BTreeMap<_, _>>(),
        });
        Ok(SecretValue::from(doc.to_string()))
    }
}

/// Secret Manager answers FAILED_PRECONDITION "... is in DISABLED state." (or DESTROYED) for
/// a version that cannot be read.
fn disabled_or_destroyed(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Invalid(m) if m.contains(Code::FailedPrecondition.name())
        && (m.contains("DISABLED state") || m.contains("DESTROYED state")))
}

#[async_trait]
impl SecretProvider for GcpClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn call_quota(&self) -> CallQuota {
        // Access requests: 90,000 per minute per project (listing for `find` has a lower quota;
        // the budget backs off if Google throttles it).
        CallQuota::per_second(1500)
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let secret = self.secret_name(&key.key)?;
        if key.metadata_policy == MetadataPolicy::Fetch {
            return self.metadata(&secret).await;
        }
        let version = key.version.as_deref().unwrap_or("latest");
        match self.access(&format!("{secret}/versions/{version}")).await {
            Err(e) if key.version.is_none() && self.policy == SecretVersionSelectionPolicy::LatestOrFetch && disabled_or_destroyed(&e) => {
                self.newest_enabled(&secret).await
            }
            other => other,
        }
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        crate::find::find(self, query, scope).await
    }

    /// Lists one secret: proves the endpoint answers and accepts our token. PERMISSION_DENIED
    /// still proves the token (a store may only be allowed to read named secrets).
    async fn validate(&self) -> Result<(), ProviderError> {
        let parent = self.parent.clone();
        let listed = self
            .ctx
            .timed(PROVIDER_NAME, "ListSecrets", async {
                self.sm.list_secrets().set_parent(&parent).set_page_size(1).send().await.map(|_| ()).map_err(|e| classify(&e, &parent))
            })
            .await;
        match listed {
            Err(ProviderError::Auth(m)) if m.contains(Code::PermissionDenied.name()) => Ok(()),
            other => other,
        }
    }

    /// Push, delete and exists all work (GetSecret, CreateSecret, UpdateSecret, AddSecretVersion,
    /// DeleteSecret).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        self.push(remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        self.delete(remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        self.exists(remote).await
    }
}
