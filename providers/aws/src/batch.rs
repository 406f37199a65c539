//! Splitting a `get_secrets` call into batch calls and single calls, and answering every key
//! from their results.
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::{StreamExt, stream};
use sesame_provider_core::{DEFAULT_BATCH_CONCURRENCY, ProviderError, RemoteKey, SecretProvider, SecretValue};

/// Batch results by key name.
pub(crate) type Answers = BTreeMap<String, Result<SecretValue, ProviderError>>;

/// Read every key: batchable names through `batch` calls of at most `limit` names, the rest
/// through the provider's single `get_secret`, both with bounded concurrency; one key's error is
/// its own.
pub(crate) async fn read_all<P, B, BF>(
    provider: &P,
    keys: &[RemoteKey],
    limit: usize,
    batchable: impl Fn(&RemoteKey) -> bool + Copy,
    batch: B,
) -> Vec<Result<SecretValue, ProviderError>>
where
    P: SecretProvider + ?Sized,
    B: Fn(Vec<String>) -> BF,
    BF: Future<Output = Answers>,
{
    let plan = plan(keys, limit, batchable);
    let (by_name, by_key) = futures::join!(
        stream::iter(plan.chunks.into_iter().map(batch)).buffer_unordered(DEFAULT_BATCH_CONCURRENCY).collect::<Vec<Answers>>(),
        stream::iter(plan.singles.into_iter().map(|key| async move {
            let value = provider.get_secret(&key).await;
            (key, value)
        }))
        .buffer_unordered(DEFAULT_BATCH_CONCURRENCY)
        .collect::<BTreeMap<_, _>>(),
    );
    let by_name: Answers = by_name.into_iter().flatten().collect();
    assemble(keys, batchable, &by_name, &by_key)
}

/// What one `get_secrets` call will ask AWS.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Distinct key names read in batch calls, in chunks no larger than the API's limit.
    pub chunks: Vec<Vec<String>>,
    /// Distinct keys read one call each (versions, metadata, or a lone batchable key).
    pub singles: Vec<RemoteKey>,
}

/// Batch every distinct batchable key name; `limit` is the API's ids-per-call maximum. The
/// chunks are balanced (21 names → 11 + 10), so there are ⌈K/limit⌉ of them and none is tiny.
/// A single batchable name is read with a single call: it needs no batch permission.
pub(crate) fn plan(keys: &[RemoteKey], limit: usize, batchable: impl Fn(&RemoteKey) -> bool) -> Plan {
    let mut names = BTreeSet::new();
    let mut singles = BTreeSet::new();
    for key in keys {
        if batchable(key) {
            names.insert(key.key.clone());
        } else {
            singles.insert(key.clone());
        }
    }
    if names.len() == 1 {
        let name = names.pop_first().expect("one name");
        singles.insert(keys.iter().find(|k| k.key == name && batchable(k)).expect("the batchable key").clone());
    }
    let names: Vec<String> = names.into_iter().collect();
    let calls = names.len().div_ceil(limit.max(1));
    let chunks = if calls == 0 {
        Vec::new()
    } else {
        let size = names.len().div_ceil(calls);
        names.chunks(size).map(<[String]>::to_vec).collect()
    };
    Plan { chunks, singles: singles.into_iter().collect() }
}

/// Answer each key, in order, from the batch results (by name) or the single results (by key).
pub(crate) fn assemble(
    keys: &[RemoteKey],
    batchable: impl Fn(&RemoteKey) -> bool,
    by_name: &BTreeMap<String, Result<SecretValue, ProviderError>>,
    by_key: &BTreeMap<RemoteKey, Result<SecretValue, ProviderError>>,
) -> Vec<Result<SecretValue, ProviderError>> {
    keys.iter()
        .map(|key| {
            let found = by_key.get(key).or_else(|| batchable(key).then(|| by_name.get(&key.key)).flatten());
            found.cloned().unwrap_or_else(|| Err(ProviderError::Transient(format!("{} was not answered by its batch call", key.key))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<RemoteKey> {
        (0..n).map(|i| RemoteKey::new(format!("k{i:02}"))).collect()
    }

    #[test]
    fn k_distinct_names_cost_ceil_k_over_limit_balanced_calls() {
        let mut many = keys(41);
        many.extend(keys(41)); // duplicates share a slot
        let p = plan(&many, 20, |_| true);
        assert_eq!(p.chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![14, 14, 13]);
        assert!(p.singles.is_empty());
        assert_eq!(plan(&keys(20), 20, |_| true).chunks.len(), 1);
        assert_eq!(plan(&keys(21), 20, |_| true).chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![11, 10]);
    }

    #[test]
    fn unbatchable_keys_and_a_lone_name_are_read_singly() {
        let versioned = RemoteKey::new("a").with_version(Some("uuid/1".into()));
        let p = plan(&[versioned.clone(), RemoteKey::new("b"), RemoteKey::new("b")], 20, |k| k.version.is_none());
        assert!(p.chunks.is_empty());
        assert_eq!(p.singles, vec![versioned, RemoteKey::new("b")]);
    }

    #[test]
    fn every_key_is_answered_in_order() {
        let ks = vec![RemoteKey::new("a"), RemoteKey::new("b").with_version(Some("2".into())), RemoteKey::new("a")];
        let by_name = BTreeMap::from([("a".to_string(), Ok(SecretValue::from("1")))]);
        let by_key = BTreeMap::from([(ks[1].clone(), Err(ProviderError::NotFound("b".into())))]);
        let got = assemble(&ks, |k| k.version.is_none(), &by_name, &by_key);
        assert_eq!(got[0].as_ref().unwrap().as_bytes(), b"1");
        assert!(got[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(got[2].as_ref().unwrap().as_bytes(), b"1");
    }
}
