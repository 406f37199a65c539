use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures::future::join_all;
use sesame_provider_core::{FindName, FindQuery, MetadataPolicy as CoreMetadataPolicy, ProviderError, RemoteKey, SecretValue, property};

use super::keys::{convert_key, decode, validate_key};
use super::rewrite::rewrite_keys;
use crate::api::{
    CreationPolicy, DeletionPolicy, ExternalSecretDataFromRemoteRef, ExternalSecretDataRemoteRef, ExternalSecretSpec, GeneratorRef,
    MetadataPolicy, NullBytePolicy, SecretStoreRef,
};

/// Where remote values come from: the controller's coalescing fetch layer, or a provider
/// directly (`sesame render`).
#[async_trait]
pub trait Source: Send + Sync {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError>;
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError>;
    /// Whether the store's provider applies `remoteRef.property` itself
    /// ([`SecretProvider::applies_property`](sesame_provider_core::SecretProvider::applies_property)).
    fn applies_property(&self) -> bool {
        false
    }
    /// `dataFrom.extract` from a provider that applies the property itself.
    async fn get_map(&self, key: RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        Err(ProviderError::Invalid(format!("remote secret {}: this store cannot read a map", key.key)))
    }
}

/// Every source one ExternalSecret reads from: its stores (`spec.secretStoreRef` and the entries'
/// own `sourceRef.storeRef`), already resolved with the tenancy checks applied, and its generators.
#[async_trait]
pub trait Sources: Send + Sync {
    /// The store an entry reads from: its own `sourceRef.storeRef`, or `spec.secretStoreRef` (`None`).
    fn store(&self, store: Option<&SecretStoreRef>) -> Result<&dyn Source, String>;
    /// New values from the `sourceRef.generatorRef` of `dataFrom[index]`.
    async fn generate(&self, index: usize, generator: &GeneratorRef) -> Result<BTreeMap<String, Vec<u8>>, ProviderError>;
}

/// One store for every entry, and no generators (the pipeline's tests, the fuzzer).
struct OneStore<'a>(&'a dyn Source);

#[async_trait]
impl Sources for OneStore<'_> {
    fn store(&self, _: Option<&SecretStoreRef>) -> Result<&dyn Source, String> {
        Ok(self.0)
    }
    async fn generate(&self, _: usize, generator: &GeneratorRef) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        Err(ProviderError::Invalid(format!("generator {} {} is not available here", generator.kind, generator.name)))
    }
}

/// The data an ExternalSecret produces, and the remote secrets that were missing but tolerated
/// (deletionPolicy Delete or Merge).
#[derive(Debug, Default)]
pub struct Fetched {
    pub data: BTreeMap<String, Vec<u8>>,
    pub missing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A provider call failed; `what` names the spec entry and remote key, never a value.
    #[error("{what}: {source}")]
    Provider { what: String, source: ProviderError },
    /// The spec asks for something impossible.
    #[error("{0}")]
    Invalid(String),
}

/// Checks ESO's admission webhook makes, done here so no webhook is needed.
pub fn validate_spec(spec: &ExternalSecretSpec) -> Result<(), String> {
    if spec.data.is_empty() && spec.data_from.is_empty() {
        return Err("spec has neither data nor dataFrom".into());
    }
    let mut seen = BTreeSet::new();
    for d in &spec.data {
        if let Some(g) = d.source_ref.as_ref().and_then(|s| s.generator_ref.as_ref()) {
            return Err(format!(
                "data[{}].sourceRef.generatorRef ({} {}) is not implemented (as in ESO): use dataFrom[].sourceRef.generatorRef",
                d.secret_key, g.kind, g.name
            ));
        }
        validate_key(&d.secret_key)?;
        if !seen.insert(d.secret_key.as_str()) {
            return Err(format!("duplicate secretKey {:?} in data", d.secret_key));
        }
    }
    for (i, df) in spec.data_from.iter().enumerate() {
        let source = df.source_ref.as_ref();
        if source.is_some_and(|s| s.secret_store_ref.is_some() == s.generator_ref.is_some()) {
            return Err(format!("dataFrom[{i}].sourceRef must set exactly one of storeRef and generatorRef"));
        }
        if let Some(g) = source.and_then(|s| s.generator_ref.as_ref()) {
            if df.extract.is_some() || df.find.is_some() {
                return Err(format!("dataFrom[{i}] sets sourceRef.generatorRef: extract and find do not apply"));
            }
            if g.api_version != crate::api::GENERATORS_API_VERSION {
                return Err(format!("dataFrom[{i}].sourceRef.generatorRef.apiVersion must be {}", crate::api::GENERATORS_API_VERSION));
            }
            continue;
        }
        if df.extract.is_some() == df.find.is_some() {
            return Err(format!("dataFrom[{i}] must set exactly one of extract and find"));
        }
        if let Some(re) = df.find.as_ref().and_then(|f| f.name.as_ref()) {
            regex::Regex::new(&re.regexp).map_err(|e| format!("dataFrom[{i}].find.name.regexp: {e}"))?;
        }
    }
    let target = &spec.target;
    if target.manifest.is_none() {
        // ESO's validation: other targets would let a template write privileged Secret fields.
        let mut paths = target.template.iter().flat_map(|t| &t.template_from).filter_map(|f| match &f.target {
            Some(crate::api::TemplateTarget::Path(p)) => Some(p),
            _ => None,
        });
        if let Some(p) = paths.next() {
            return Err(format!(
                "templateFrom target={p:.100?} is not allowed when targeting a Secret, must be one of Data, Annotations or Labels"
            ));
        }
    }
    if target.deletion_policy == DeletionPolicy::Delete && target.creation_policy != CreationPolicy::Owner {
        return Err("deletionPolicy Delete requires creationPolicy Owner".into());
    }
    if target.deletion_policy == DeletionPolicy::Merge && target.creation_policy == CreationPolicy::None {
        return Err("deletionPolicy Merge cannot be used with creationPolicy None".into());
    }
    Ok(())
}

/// `nullBytePolicy: Fail`: a decoded value holding a NUL byte is refused (ESO checks after
/// decoding). The message never shows the value.
fn refuse_nul(value: &[u8], policy: Option<NullBytePolicy>) -> Result<(), String> {
    if policy == Some(NullBytePolicy::Fail) && value.contains(&0) {
        return Err(
            "the value contains NUL bytes and nullBytePolicy is Fail (store binary data as base64 or PEM, or leave nullBytePolicy unset)"
                .into(),
        );
    }
    Ok(())
}

/// The key of one remote read; `property` goes in only for a provider that applies it itself, so
/// reads of different properties of one secret share a call everywhere else.
fn remote_key(r: &ExternalSecretDataRemoteRef, source: &dyn Source) -> RemoteKey {
    read_key(r, source.applies_property())
}

/// [`remote_key`] for a store whose provider does (`applies_property`) or does not apply
/// `property`: what a wave plan reads ahead is exactly what the sync will ask for.
pub fn read_key(r: &ExternalSecretDataRemoteRef, applies_property: bool) -> RemoteKey {
    let policy = match r.metadata_policy.unwrap_or_default() {
        MetadataPolicy::None => CoreMetadataPolicy::None,
        MetadataPolicy::Fetch => CoreMetadataPolicy::Fetch,
    };
    let property = if applies_property { r.property.clone() } else { None };
    RemoteKey::new(r.key.clone()).with_version(r.version.clone()).with_metadata(policy).with_property(property)
}

/// One `dataFrom` entry as remote key → value, before renaming and decoding.
async fn read_data_from(
    index: usize,
    df: &ExternalSecretDataFromRemoteRef,
    sources: &dyn Sources,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let own = df.source_ref.as_ref();
    if let Some(g) = own.and_then(|s| s.generator_ref.as_ref()) {
        return Ok(sources.generate(index, g).await?.into_iter().map(|(k, v)| (k, SecretValue::from(v))).collect());
    }
    let source = sources.store(own.and_then(|s| s.secret_store_ref.as_ref())).map_err(ProviderError::Invalid)?;
    if let Some(r) = &df.extract {
        if source.applies_property() {
            return source.get_map(remote_key(r, source)).await;
        }
        let payload = source.get(remote_key(r, source)).await?;
        let payload = match &r.property {
            Some(p) => property::extract(payload.as_bytes(), p, &r.key)?,
            None => payload,
        };
        return property::top_level_map(payload.as_bytes(), &r.key);
    }
    let f = df.find.as_ref().expect("validated: extract or find");
    let query = FindQuery {
        path: f.path.clone().filter(|p| !p.is_empty()),
        name: f.name.as_ref().map(|n| FindName { regexp: n.regexp.clone() }),
        tags: f.tags.clone(),
    };
    source.find(&query).await
}

/// [`fetch_from`] with every entry read from one store.
pub async fn fetch(spec: &ExternalSecretSpec, source: &dyn Source) -> Result<Fetched, FetchError> {
    fetch_from(spec, &OneStore(source)).await
}

/// One `data` entry's remote value, and whether its provider already applied `property`.
async fn read_data(d: &crate::api::ExternalSecretData, sources: &dyn Sources) -> Result<(SecretValue, bool), ProviderError> {
    let store = d.source_ref.as_ref().and_then(|s| s.secret_store_ref.as_ref());
    let source = sources.store(store).map_err(ProviderError::Invalid)?;
    Ok((source.get(remote_key(&d.remote_ref, source)).await?, source.applies_property()))
}

/// Fetch everything the spec names and turn it into Secret data.
///
/// All remote reads start at once, so the fetch layer can coalesce and batch them.
pub async fn fetch_from(spec: &ExternalSecretSpec, sources: &dyn Sources) -> Result<Fetched, FetchError> {
    validate_spec(spec).map_err(FetchError::Invalid)?;
    let tolerate_missing = spec.target.deletion_policy != DeletionPolicy::Retain;

    let (from_results, data_results) = futures::join!(
        join_all(spec.data_from.iter().enumerate().map(|(i, df)| read_data_from(i, df, sources))),
        join_all(spec.data.iter().map(|d| read_data(d, sources))),
    );

    let mut out = Fetched::default();
    for (i, (df, result)) in spec.data_from.iter().zip(from_results).enumerate() {
        let generator = df.source_ref.as_ref().and_then(|s| s.generator_ref.as_ref());
        let (what, conversion, decoding, nul) = match (&df.extract, &df.find, generator) {
            (_, _, Some(g)) => (format!("dataFrom[{i}].sourceRef.generatorRef {} {}", g.kind, g.name), None, None, None),
            (Some(r), _, _) => {
                (format!("dataFrom[{i}].extract key {}", r.key), r.conversion_strategy, r.decoding_strategy, r.null_byte_policy)
            }
            (_, Some(f), _) => (format!("dataFrom[{i}].find"), f.conversion_strategy, f.decoding_strategy, f.null_byte_policy),
            _ => unreachable!("validated: exactly one of extract, find and generatorRef"),
        };
        let map = match result {
            Ok(map) => map,
            Err(e) if e.is_not_found() && tolerate_missing && generator.is_none() => {
                out.missing.push(what);
                continue;
            }
            // A generator that cannot be found or built, or a spec it refuses, stays so until edited.
            Err(ProviderError::Invalid(m)) if generator.is_some() => return Err(FetchError::Invalid(format!("{what}: {m}"))),
            // A find over its limits (or one the provider cannot run) fails the same way at the
            // next attempt: report it as invalid data, retried at the refresh interval.
            Err(ProviderError::Invalid(m)) if df.find.is_some() => return Err(FetchError::Invalid(format!("{what}: {m}"))),
            Err(source) => return Err(FetchError::Provider { what, source }),
        };
        let raw: BTreeMap<String, Vec<u8>> = map.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        let renamed = if df.rewrite.is_empty() {
            raw.into_iter().map(|(k, v)| (convert_key(&k, conversion.unwrap_or_default()), v)).collect()
        } else {
            rewrite_keys(raw, &df.rewrite).map_err(|e| FetchError::Invalid(format!("{what}: {e}")))?
        };
        for (key, value) in renamed {
            validate_key(&key).map_err(|e| FetchError::Invalid(format!("{what}: {e}")))?;
            let value = decode(value, decoding.unwrap_or_default()).map_err(|e| FetchError::Invalid(format!("{what} key {key}: {e}")))?;
            refuse_nul(&value, nul).map_err(|e| FetchError::Invalid(format!("{what} key {key}: {e}")))?;
            out.data.insert(key, value);
        }
    }

    for (d, result) in spec.data.iter().zip(data_results) {
        let r = &d.remote_ref;
        let what = || format!("data[{}] key {}", d.secret_key, r.key);
        let (payload, applied) = match result {
            Ok(v) => v,
            Err(e) if e.is_not_found() && tolerate_missing => {
                out.missing.push(r.key.clone());
                continue;
            }
            Err(source) => return Err(FetchError::Provider { what: what(), source }),
        };
        let value = match r.property.as_ref().filter(|_| !applied) {
            Some(p) => match property::extract(payload.as_bytes(), p, &r.key) {
                Ok(v) => v,
                Err(e) if e.is_not_found() && tolerate_missing => {
                    out.missing.push(format!("{}/{p}", r.key));
                    continue;
                }
                Err(source) => return Err(FetchError::Provider { what: what(), source }),
            },
            None => payload,
        };
        let value = decode(value.into_bytes(), r.decoding_strategy.unwrap_or_default())
            .map_err(|e| FetchError::Invalid(format!("{}: {e}", what())))?;
        refuse_nul(&value, r.null_byte_policy).map_err(|e| FetchError::Invalid(format!("{}: {e}", what())))?;
        out.data.insert(d.secret_key.clone(), value);
    }
    Ok(out)
}
