//! The built store client: reads, finds and validation against the remote namespace, through one
//! kube client that is rebuilt (credentials re-read) when the server refuses it or its
//! ServiceAccount token nears its end.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, PostParams};
use sesame_provider_core::{
    CallQuota, Capabilities, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider,
    SecretValue,
};
use tokio::sync::Mutex;

use crate::errors::classify;
use crate::payload::{data_json, data_map, data_property, metadata_json};
use crate::{KubernetesProvider, PROVIDER};

/// A client is rebuilt after this long, well inside the one-hour ServiceAccount token.
const REBUILD_AFTER: Duration = Duration::from_secs(30 * 60);
/// Secrets per list page of a find.
const PAGE: u32 = 100;

/// Build the client for one store. Connects lazily (first read or `validate`).
pub async fn build(spec: &KubernetesProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_urls()?;
    Ok(Arc::new(KubernetesClient { spec: spec.clone(), ctx, conn: Mutex::new(None), access: AtomicU8::new(ACCESS_UNKNOWN) }))
}

const ACCESS_UNKNOWN: u8 = 0;
const ACCESS_READ: u8 = 1;
const ACCESS_WRITE: u8 = 2;

/// A Kubernetes store: Secrets of `remoteNamespace`, as the store's identity sees them.
pub struct KubernetesClient {
    pub(crate) spec: KubernetesProvider,
    ctx: ProviderContext,
    conn: Mutex<Option<(kube::Client, Instant)>>,
    /// What the last validation found the identity may do with Secrets there.
    access: AtomicU8,
}

impl KubernetesClient {
    async fn kube(&self, fresh: bool) -> Result<kube::Client, ProviderError> {
        let mut conn = self.conn.lock().await;
        if let Some((client, built)) = conn.as_ref()
            && !fresh
            && built.elapsed() < REBUILD_AFTER
        {
            return Ok(client.clone());
        }
        let client = crate::connect::client(&self.spec, self.ctx.credentials.as_ref()).await?;
        *conn = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    /// Run one API call; when the server refuses the credentials (401), read them again, build a
    /// new client and retry once.
    pub(crate) async fn call<T, F, Fut>(&self, call: &'static str, what: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut fresh = false;
        loop {
            let client = self.kube(fresh).await?;
            let result = self.ctx.timed(PROVIDER, call, async { f(client).await.map_err(|e| classify(what, &e)) }).await;
            match result {
                Err(ProviderError::Auth(m)) if !fresh && m.contains("401") => fresh = true,
                other => return other,
            }
        }
    }

    pub(crate) fn secrets(&self, client: kube::Client) -> Api<Secret> {
        Api::namespaced(client, &self.spec.remote_namespace)
    }

    pub(crate) async fn get(&self, name: &str) -> Result<Secret, ProviderError> {
        let what = format!("secret {}/{name}", self.spec.remote_namespace);
        self.call("GetSecret", &what, |c| async move { self.secrets(c).get(name).await }).await
    }

    /// ESO's two questions: may this identity get Secrets in the remote namespace (rules review,
    /// then an access review)? The same reviews, for create and update, decide ReadWrite.
    async fn review(&self) -> Result<(bool, bool), ProviderError> {
        let ns = self.spec.remote_namespace.clone();
        let rules = SelfSubjectRulesReview { spec: SelfSubjectRulesReviewSpec { namespace: Some(ns.clone()) }, ..Default::default() };
        let what = format!("rules review in namespace {ns}");
        let review = self
            .call("CreateSelfSubjectRulesReview", &what, |c| {
                let rules = rules.clone();
                async move { Api::<SelfSubjectRulesReview>::all(c).create(&PostParams::default(), &rules).await }
            })
            .await?;
        let resource_rules = review.status.map(|s| s.resource_rules).unwrap_or_default();
        let allows = |verb: &str| {
            resource_rules.iter().any(|r| {
                let resources = r.resources.clone().unwrap_or_default();
                let groups = r.api_groups.clone().unwrap_or_default();
                (resources.iter().any(|x| x == "secrets" || x == "*"))
                    && r.verbs.iter().any(|v| v == verb || v == "*")
                    && (groups.is_empty() || groups.iter().any(|g| g.is_empty() || g == "*"))
            })
        };
        let mut answers = [false; 3];
        for (i, verb) in ["get", "create", "update"].into_iter().enumerate() {
            answers[i] = allows(verb) || self.access_review(&ns, verb).await?;
        }
        Ok((answers[0], answers[1] && answers[2]))
    }

    async fn access_review(&self, ns: &str, verb: &str) -> Result<bool, ProviderError> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    resource: Some("secrets".into()),
                    namespace: Some(ns.into()),
                    verb: Some(verb.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let what = format!("access review ({verb} secrets in namespace {ns})");
        let answer = self
            .call("CreateSelfSubjectAccessReview", &what, |c| {
                let review = review.clone();
                async move { Api::<SelfSubjectAccessReview>::all(c).create(&PostParams::default(), &review).await }
            })
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

#[async_trait]
impl SecretProvider for KubernetesClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn call_quota(&self) -> CallQuota {
        // The remote apiserver's priority and fairness answers 429 when it must; no fixed quota.
        CallQuota::Unmetered
    }

    /// The property is applied here, as ESO does, so a binary value is never turned into JSON.
    fn applies_property(&self) -> bool {
        true
    }

    /// Without a property the Secret as a JSON object of strings (or its metadata); with one, that
    /// key's bytes (or the metadata's property).
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let secret = self.get(&key.key).await?;
        match (key.metadata_policy, key.property.as_deref()) {
            (MetadataPolicy::Fetch, None) => Ok(SecretValue::from(metadata_json(&secret))),
            (MetadataPolicy::Fetch, Some(p)) => sesame_provider_core::property::extract(&metadata_json(&secret), p, &key.key),
            (MetadataPolicy::None, None) => Ok(SecretValue::from(data_json(&secret))),
            (MetadataPolicy::None, Some(p)) => data_property(&secret, p, &key.key),
        }
    }

    /// `dataFrom.extract`: the Secret's data with its bytes as they are; with a property or for
    /// metadata, the top-level keys of that JSON value.
    async fn get_secret_map(&self, key: &RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        if key.property.is_none() && key.metadata_policy == MetadataPolicy::None {
            return Ok(data_map(&self.get(&key.key).await?));
        }
        let payload = self.get_secret(key).await?;
        sesame_provider_core::property::top_level_map(payload.as_bytes(), &key.key)
    }

    /// ESO's find: with tags, the Secrets carrying every tag as a label (the name is then not
    /// looked at); else the Secrets whose name matches `name.regexp`. Listed by pages, each page
    /// charged to the budget, the match limit checked while listing.
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let mut params = ListParams::default().limit(PAGE);
        let matcher = if !query.tags.is_empty() {
            params = params.labels(&crate::payload::label_selector(&query.tags)?);
            None
        } else {
            let Some(name) = &query.name else {
                return Err(ProviderError::Invalid("kubernetes find needs name.regexp or tags".into()));
            };
            Some(regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?)
        };
        let what = format!("list secrets in namespace {}", self.spec.remote_namespace);
        let mut out = BTreeMap::new();
        loop {
            scope.charge(1).await;
            let page_params = params.clone();
            let page = self.call("ListSecrets", &what, |c| {
                let p = page_params.clone();
                async move { self.secrets(c).list(&p).await }
            });
            let page = page.await?;
            for secret in &page.items {
                let name = secret.metadata.name.clone().unwrap_or_default();
                if matcher.as_ref().is_some_and(|m| !m.is_match(&name)) {
                    continue;
                }
                let value = SecretValue::from(data_json(secret));
                scope.check_matches(out.len() + 1)?;
                scope.check_value(&name, &value)?;
                out.insert(name, value);
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(out)
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        let (read, write) = self.review().await?;
        self.access.store(if write && read { ACCESS_WRITE } else { ACCESS_READ }, Ordering::SeqCst);
        if read {
            Ok(())
        } else {
            Err(ProviderError::Auth(format!("client is not allowed to get secrets in namespace {}", self.spec.remote_namespace)))
        }
    }

    /// ReadWrite as ESO says, unless validation saw the identity may not create and update
    /// Secrets there (then ReadOnly, so a PushSecret is refused up front).
    fn capabilities(&self) -> Capabilities {
        if self.access.load(Ordering::SeqCst) == ACCESS_READ { Capabilities::ReadOnly } else { Capabilities::ReadWrite }
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        crate::push::push(self, remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        crate::push::delete(self, remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        crate::push::exists(self, remote).await
    }
}
