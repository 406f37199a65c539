//! AWS Secrets Manager: GetSecretValue, BatchGetSecretValue, DescribeSecret (tags), ListSecrets.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretValueEntry};
use futures::{StreamExt, stream};
use sesame_provider_core::{
    CallQuota, Capabilities, DEFAULT_BATCH_CONCURRENCY, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef,
    RemoteKey, SecretProvider, SecretValue,
};

use crate::{SecretsManagerOptions, batch, errors};

pub(crate) const PROVIDER: &str = "AWS/SecretsManager";
/// BatchGetSecretValue takes at most 20 secret ids per call.
pub const BATCH_LIMIT: usize = crate::AwsServiceType::SecretsManager.keys_per_call();
const CURRENT: &str = "AWSCURRENT";

use crate::batch::Answers;

/// A Secrets Manager store's client.
pub struct SecretsManagerClient {
    pub(crate) client: aws_sdk_secretsmanager::Client,
    sts: aws_sdk_sts::Client,
    pub(crate) ctx: ProviderContext,
    prefix: String,
    /// The store's `secretsManager` options (PushSecret deletes).
    pub(crate) options: Option<SecretsManagerOptions>,
    /// Set once BatchGetSecretValue was refused (an IAM policy that grants GetSecretValue
    /// only): later batches go straight to single calls.
    batch_denied: AtomicBool,
}

impl SecretsManagerClient {
    pub(crate) fn new(config: &SdkConfig, ctx: ProviderContext, prefix: String, options: Option<SecretsManagerOptions>) -> Self {
        SecretsManagerClient {
            client: aws_sdk_secretsmanager::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            ctx,
            prefix,
            options,
            batch_denied: AtomicBool::new(false),
        }
    }

    pub(crate) fn id(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Keys BatchGetSecretValue can answer: the current value, no metadata.
    fn batchable(key: &RemoteKey) -> bool {
        key.metadata_policy == MetadataPolicy::None && key.version.as_deref().is_none_or(|v| v == CURRENT)
    }

    async fn value(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let id = self.id(&key.key);
        let mut req = self.client.get_secret_value().secret_id(&id);
        let what = match key.version.as_deref() {
            Some(v) => {
                req = match v.strip_prefix("uuid/") {
                    Some(version_id) => req.version_id(version_id),
                    None => req.version_stage(v),
                };
                format!("{id} (version {v})")
            }
            None => {
                req = req.version_stage(CURRENT);
                id.clone()
            }
        };
        let call = async { req.send().await.map_err(|e| errors::from_sdk(e, "GetSecretValue", &what)) };
        let out = self.ctx.timed(PROVIDER, "GetSecretValue", call).await?;
        payload(out.secret_string(), out.secret_binary(), &what)
    }

    /// `metadataPolicy: Fetch`: the secret's tags as a JSON object.
    async fn tags(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let id = self.id(&key.key);
        let call =
            async { self.client.describe_secret().secret_id(&id).send().await.map_err(|e| errors::from_sdk(e, "DescribeSecret", &id)) };
        let out = self.ctx.timed(PROVIDER, "DescribeSecret", call).await?;
        if out.deleted_date().is_some() {
            return Err(ProviderError::NotFound(format!("DescribeSecret {id}: the secret is scheduled for deletion")));
        }
        let tags: BTreeMap<&str, &str> = out.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))).collect();
        Ok(SecretValue::from(serde_json::to_vec(&tags).expect("a map of strings serializes")))
    }

    /// One BatchGetSecretValue call for up to 20 key names, answered per name.
    async fn batch(&self, names: Vec<String>) -> Answers {
        if self.batch_denied.load(Ordering::Relaxed) {
            return self.singly(names).await;
        }
        let ids: Vec<String> = names.iter().map(|n| self.id(n)).collect();
        let what = format!("({} secrets)", ids.len());
        let call = async {
            match self.client.batch_get_secret_value().set_secret_id_list(Some(ids.clone())).send().await {
                Ok(out) => Ok(Ok(out)),
                // Refused as a whole: fall back to single reads, which may be allowed.
                Err(e) if e.code() == Some("AccessDeniedException") => Ok(Err(errors::from_sdk(e, "BatchGetSecretValue", &what))),
                Err(e) => Err(errors::from_sdk(e, "BatchGetSecretValue", &what)),
            }
        };
        let out = match self.ctx.timed(PROVIDER, "BatchGetSecretValue", call).await {
            Ok(Ok(out)) => out,
            Ok(Err(denied)) => {
                tracing::info!(error = %denied, "BatchGetSecretValue denied; reading secrets one by one from now on");
                self.batch_denied.store(true, Ordering::Relaxed);
                return self.singly(names).await;
            }
            Err(e) => return names.into_iter().map(|n| (n, Err(e.clone()))).collect(),
        };
        let mut answers = Answers::new();
        let mut unanswered = Vec::new();
        for (name, id) in names.into_iter().zip(ids) {
            let entry = out.secret_values().iter().find(|e| e.name() == Some(id.as_str()) || e.arn() == Some(id.as_str()));
            let error = out.errors().iter().find(|e| e.secret_id() == Some(id.as_str()));
            match (entry, error) {
                (Some(entry), _) => {
                    answers.insert(name, entry_payload(entry, &id));
                }
                (None, Some(err)) => {
                    let code = err.error_code().unwrap_or("Unknown");
                    answers.insert(name, Err(errors::from_code(code, err.message().unwrap_or(""), None, "BatchGetSecretValue", &id)));
                }
                // Not recognisable in the answer (a partial ARN, say): ask for it on its own.
                (None, None) => unanswered.push(name),
            }
        }
        answers.extend(self.singly(unanswered).await);
        answers
    }

    async fn singly(&self, names: Vec<String>) -> Answers {
        let reads: Vec<_> = names
            .into_iter()
            .map(|name| async move {
                let result = self.value(&RemoteKey::new(name.clone())).await;
                (name, result)
            })
            .collect();
        stream::iter(reads).buffer_unordered(DEFAULT_BATCH_CONCURRENCY).collect().await
    }

    /// Names (without the store prefix) of the live secrets under `path` carrying every tag.
    async fn list(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<Vec<String>, ProviderError> {
        let name_prefix = format!("{}{}", self.prefix, query.path.as_deref().unwrap_or(""));
        let mut filters = Vec::new();
        if !name_prefix.is_empty() {
            filters.push(Filter::builder().key(FilterNameStringType::Name).values(&name_prefix).build());
        }
        for (k, v) in &query.tags {
            filters.push(Filter::builder().key(FilterNameStringType::TagKey).values(k).build());
            filters.push(Filter::builder().key(FilterNameStringType::TagValue).values(v).build());
        }
        let matcher = crate::find_matcher(query)?;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(100)
                .set_next_token(token.take());
            let call = async { req.send().await.map_err(|e| errors::from_sdk(e, "ListSecrets", &name_prefix)) };
            scope.charge(1).await;
            let page = self.ctx.timed(PROVIDER, "ListSecrets", call).await?;
            for entry in page.secret_list() {
                let Some(name) = entry.name() else { continue };
                // AWS's filters match loosely (prefixes of words, any tag key with any value):
                // keep exactly what the query asks for.
                let tags: BTreeMap<&str, &str> =
                    entry.tags().iter().filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))).collect();
                let tagged = query.tags.iter().all(|(k, v)| tags.get(k.as_str()) == Some(&v.as_str()));
                let Some(key) = name.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                if entry.deleted_date().is_none()
                    && name.starts_with(&name_prefix)
                    && tagged
                    && matcher.as_ref().is_none_or(|m| m.is_match(key))
                {
                    names.push(key.to_string());
                }
            }
            scope.check_matches(names.len())?;
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

fn payload(string: Option<&str>, binary: Option<&Blob>, what: &str) -> Result<SecretValue, ProviderError> {
    match (string, binary) {
        (Some(s), _) => Ok(SecretValue::from(s)),
        (None, Some(b)) => Ok(SecretValue::from(b.as_ref().to_vec())),
        (None, None) => Err(ProviderError::Invalid(format!("{what} has neither SecretString nor SecretBinary"))),
    }
}

fn entry_payload(entry: &SecretValueEntry, what: &str) -> Result<SecretValue, ProviderError> {
    payload(entry.secret_string(), entry.secret_binary(), what)
}

#[async_trait]
impl SecretProvider for SecretsManagerClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn call_quota(&self) -> CallQuota {
        // BatchGetSecretValue and ListSecrets: 100 per second per account and region (GetSecretValue
        // alone would allow 10,000, but Sesame batches).
        CallQuota::per_second(100)
    }

    /// One batch call carries this many keys: the fetch layer charges the store's budget per call.
    fn keys_per_call(&self) -> usize {
        BATCH_LIMIT
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        match key.metadata_policy {
            MetadataPolicy::Fetch => self.tags(key).await,
            MetadataPolicy::None => self.value(key).await,
        }
    }

    /// Current values in BatchGetSecretValue calls of up to 20 distinct ids (⌈K/20⌉ calls for K
    /// distinct keys); versions and metadata in single calls. One key's error is its own.
    async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
        batch::read_all(self, keys, BATCH_LIMIT, Self::batchable, |chunk| self.batch(chunk)).await
    }

    /// Every live secret under `path` (after the store prefix) with all `tags` whose name
    /// (without the store prefix) matches `name.regexp`: ListSecrets pages, then the values in
    /// BatchGetSecretValue calls of 20.
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let names = self.list(query, scope).await?;
        let keys: Vec<RemoteKey> = names.into_iter().map(RemoteKey::new).collect();
        scope.charge(keys.len().div_ceil(BATCH_LIMIT)).await;
        let values = self.get_secrets(&keys).await;
        let mut found = BTreeMap::new();
        for (key, value) in keys.into_iter().zip(values) {
            match value {
                Ok(v) => {
                    scope.check_value(&key.key, &v)?;
                    found.insert(key.key, v);
                }
                Err(e) if e.is_not_found() => {} // deleted between the listing and the read
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        crate::caller_identity(&self.sts, &self.ctx).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// CreateSecret (tagged `managed-by: external-secrets`) or PutSecretValue; see `sm_push`.
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
