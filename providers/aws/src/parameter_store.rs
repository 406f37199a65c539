//! AWS Systems Manager Parameter Store: GetParameter, GetParameters, ListTagsForResource,
//! GetParametersByPath and DescribeParameters.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::{ParameterStringFilter, ResourceTypeForTagging};
use futures::{StreamExt, stream};
use sesame_provider_core::{
    CallQuota, Capabilities, DEFAULT_BATCH_CONCURRENCY, FindQuery, FindScope, MetadataPolicy, ProviderContext, ProviderError, PushRef,
    RemoteKey, SecretProvider, SecretValue,
};

use crate::{batch, errors};

pub(crate) const PROVIDER: &str = "AWS/ParameterStore";
/// GetParameters takes at most 10 names per call.
pub const BATCH_LIMIT: usize = crate::AwsServiceType::ParameterStore.keys_per_call();

use crate::batch::Answers;

/// A Parameter Store store's client.
pub struct ParameterStoreClient {
    pub(crate) client: aws_sdk_ssm::Client,
    sts: aws_sdk_sts::Client,
    pub(crate) ctx: ProviderContext,
    pub(crate) prefix: String,
    /// Set once GetParameters was refused: later batches go straight to single calls.
    batch_denied: AtomicBool,
}

impl ParameterStoreClient {
    pub(crate) fn new(config: &SdkConfig, ctx: ProviderContext, prefix: String) -> Self {
        ParameterStoreClient {
            client: aws_sdk_ssm::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            ctx,
            prefix,
            batch_denied: AtomicBool::new(false),
        }
    }

    /// The parameter name with the store prefix and the `:version` selector.
    fn name(&self, key: &RemoteKey) -> String {
        match key.version.as_deref() {
            Some(v) => format!("{}{}:{v}", self.prefix, key.key),
            None => format!("{}{}", self.prefix, key.key),
        }
    }

    fn batchable(key: &RemoteKey) -> bool {
        key.metadata_policy == MetadataPolicy::None && key.version.is_none()
    }

    pub(crate) async fn value(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let name = self.name(key);
        let call = async {
            self.client
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| errors::from_sdk(e, "GetParameter", &name))
        };
        let out = self.ctx.timed(PROVIDER, "GetParameter", call).await?;
        out.parameter()
            .and_then(|p| p.value())
            .map(SecretValue::from)
            .ok_or_else(|| ProviderError::Invalid(format!("GetParameter {name}: the parameter has no value")))
    }

    /// `metadataPolicy: Fetch`: the parameter's tags as a JSON object.
    async fn tags(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let name = format!("{}{}", self.prefix, key.key);
        let call = async {
            self.client
                .list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(&name)
                .send()
                .await
                .map_err(|e| errors::from_sdk(e, "ListTagsForResource", &name))
        };
        let out = self.ctx.timed(PROVIDER, "ListTagsForResource", call).await?;
        let tags: BTreeMap<&str, &str> = out.tag_list().iter().map(|t| (t.key(), t.value())).collect();
        Ok(SecretValue::from(serde_json::to_vec(&tags).expect("a map of strings serializes")))
    }

    /// One GetParameters call for up to 10 key names, answered per name.
    async fn batch(&self, keys: Vec<String>) -> Answers {
        if self.batch_denied.load(Ordering::Relaxed) {
            return self.singly(keys).await;
        }
        let names: Vec<String> = keys.iter().map(|k| format!("{}{k}", self.prefix)).collect();
        let what = format!("({} parameters)", names.len());
        let call = async {
            match self.client.get_parameters().set_names(Some(names.clone())).with_decryption(true).send().await {
                Ok(out) => Ok(Ok(out)),
                Err(e) if e.code() == Some("AccessDeniedException") => Ok(Err(errors::from_sdk(e, "GetParameters", &what))),
                Err(e) => Err(errors::from_sdk(e, "GetParameters", &what)),
            }
        };
        let out = match self.ctx.timed(PROVIDER, "GetParameters", call).await {
            Ok(Ok(out)) => out,
            Ok(Err(denied)) => {
                tracing::info!(error = %denied, "GetParameters denied; reading parameters one by one from now on");
                self.batch_denied.store(true, Ordering::Relaxed);
                return self.singly(keys).await;
            }
            Err(e) => return keys.into_iter().map(|k| (k, Err(e.clone()))).collect(),
        };
        let mut answers = Answers::new();
        let mut unanswered = Vec::new();
        for (key, name) in keys.into_iter().zip(names) {
            let param = out.parameters().iter().find(|p| p.name() == Some(name.as_str()) || p.arn() == Some(name.as_str()));
            if let Some(value) = param.and_then(|p| p.value()) {
                answers.insert(key, Ok(SecretValue::from(value)));
            } else if out.invalid_parameters().contains(&name) {
                answers.insert(key, Err(ProviderError::NotFound(format!("GetParameters {name}: ParameterNotFound"))));
            } else {
                unanswered.push(key);
            }
        }
        answers.extend(self.singly(unanswered).await);
        answers
    }

    async fn singly(&self, keys: Vec<String>) -> Answers {
        let reads: Vec<_> = keys
            .into_iter()
            .map(|key| async move {
                let result = self.value(&RemoteKey::new(key.clone())).await;
                (key, result)
            })
            .collect();
        stream::iter(reads).buffer_unordered(DEFAULT_BATCH_CONCURRENCY).collect().await
    }

    /// Every parameter under `prefix + path` (a `/` hierarchy, or else a name prefix), values
    /// included, by name without the store prefix.
    async fn by_path(
        &self,
        root: &str,
        scope: &FindScope<'_>,
        wanted: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<BTreeMap<String, SecretValue>>, ProviderError> {
        let mut found = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let req = self.client.get_parameters_by_path().path(root).recursive(true).with_decryption(true).set_next_token(token.take());
            let call = async {
                match req.send().await {
                    Ok(page) => Ok(Some(page)),
                    // ESO falls back to DescribeParameters when the path read is not allowed.
                    Err(e) if e.code() == Some("AccessDeniedException") => Ok(None),
                    Err(e) => Err(errors::from_sdk(e, "GetParametersByPath", root)),
                }
            };
            scope.charge(1).await;
            let Some(page) = self.ctx.timed(PROVIDER, "GetParametersByPath", call).await? else {
                return Ok(None);
            };
            for p in page.parameters() {
                if let (Some(key), Some(value)) = (p.name().and_then(&wanted), p.value()) {
                    let value = SecretValue::from(value);
                    scope.check_value(&key, &value)?;
                    found.insert(key, value);
                    scope.check_matches(found.len())?;
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(Some(found));
            }
        }
    }

    /// Names of the parameters under `root` carrying every tag of the query (DescribeParameters).
    async fn describe(&self, root: &str, tags: &BTreeMap<String, String>, scope: &FindScope<'_>) -> Result<Vec<String>, ProviderError> {
        let mut filters = Vec::new();
        let filter = |key: String, option: &str, value: &str| {
            ParameterStringFilter::builder()
                .key(key)
                .option(option)
                .values(value)
                .build()
                .map_err(|e| ProviderError::Invalid(format!("invalid find filter: {e}")))
        };
        if root.starts_with('/') && root.len() > 1 {
            filters.push(filter("Path".into(), "Recursive", root.trim_end_matches('/'))?);
        } else if !root.is_empty() && root != "/" {
            filters.push(filter("Name".into(), "BeginsWith", root)?);
        }
        for (k, v) in tags {
            filters.push(filter(format!("tag:{k}"), "Equals", v)?);
        }
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .describe_parameters()
                .set_parameter_filters((!filters.is_empty()).then(|| filters.clone()))
                .max_results(50)
                .set_next_token(token.take());
            let call = async { req.send().await.map_err(|e| errors::from_sdk(e, "DescribeParameters", root)) };
            scope.charge(1).await;
            let page = self.ctx.timed(PROVIDER, "DescribeParameters", call).await?;
            names.extend(page.parameters().iter().filter_map(|p| p.name()).map(str::to_string));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

#[async_trait]
impl SecretProvider for ParameterStoreClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn call_quota(&self) -> CallQuota {
        // Standard throughput: 40 per second per account and region, shared by GetParameter,
        // GetParameters and GetParametersByPath.
        CallQuota::per_second(40)
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

    /// Latest values in GetParameters calls of up to 10 distinct names (⌈K/10⌉ calls for K
    /// distinct keys); versions and metadata in single calls. One key's error is its own.
    async fn get_secrets(&self, keys: &[RemoteKey]) -> Vec<Result<SecretValue, ProviderError>> {
        batch::read_all(self, keys, BATCH_LIMIT, Self::batchable, |chunk| self.batch(chunk)).await
    }

    /// Parameters under `path` (after the store prefix), with every tag, whose name (without
    /// the store prefix) matches `name.regexp`. A `/` path without tags is one
    /// GetParametersByPath walk (values included); otherwise DescribeParameters selects the names
    /// and GetParameters reads them ten at a time.
    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let matcher = crate::find_matcher(query)?;
        let root = format!("{}{}", self.prefix, query.path.as_deref().unwrap_or(""));
        let wanted = |name: &str| -> Option<String> {
            let key = name.strip_prefix(self.prefix.as_str())?;
            (name.starts_with(&root) && matcher.as_ref().is_none_or(|m| m.is_match(key))).then(|| key.to_string())
        };
        if root.starts_with('/')
            && query.tags.is_empty()
            && let Some(found) = self.by_path(&root, scope, wanted).await?
        {
            return Ok(found);
        }
        let mut keys = Vec::new();
        for name in self.describe(&root, &query.tags, scope).await? {
            if let Some(key) = wanted(&name) {
                keys.push(RemoteKey::new(key));
                scope.check_matches(keys.len())?;
            }
        }
        scope.charge(keys.len().div_ceil(BATCH_LIMIT)).await;
        let values = self.get_secrets(&keys).await;
        let mut found = BTreeMap::new();
        for (key, value) in keys.into_iter().zip(values) {
            match value {
                Ok(v) => {
                    scope.check_value(&key.key, &v)?;
                    found.insert(key.key, v);
                }
                Err(e) if e.is_not_found() => {}
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

    /// PutParameter (a new parameter tagged `managed-by: external-secrets`); see `ps_push`.
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
