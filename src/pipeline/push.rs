//! What a PushSecret writes to one store, from the source data (ESO 2.9's rules): `dataTo[]`
//! expands into entries (one per matched key, or one bundle when `remoteKey` is set), explicit
//! `data[]` entries win over `dataTo` for the same source key, and two entries writing the same
//! remote key and property are an error. Shared by the controller and `sesame render`.
use std::collections::{BTreeMap, BTreeSet};

use crate::api::{PushSecretConversionStrategy, PushSecretData, PushSecretDataTo, PushSecretMatch, PushSecretRemoteRef, PushSecretSpec};

/// One write: the entry as `status.syncedPushSecrets` records it, and the bytes it pushes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub entry: PushSecretData,
    pub value: Vec<u8>,
}

/// The store a plan is for: what `dataTo[].storeRef` is matched against.
pub struct StoreInfo<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// The status key of one entry: the remote key, and `/<property>` when one is named.
pub fn status_key(data: &PushSecretData) -> String {
    let r = &data.r#match.remote_ref;
    match r.property.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => format!("{}/{p}", r.remote_key),
        None => r.remote_key.clone(),
    }
}

/// `ReverseUnicode`: `_U0040_` (4 or 5 hex digits) back to the character, undoing an
/// ExternalSecret's `conversionStrategy: Unicode`. A code point that is no character becomes U+FFFD.
pub fn reverse_unicode(key: &str) -> String {
    static ESCAPE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new("_U([0-9a-fA-F]{4,5})_").expect("a valid regex"));
    ESCAPE
        .replace_all(key, |c: &regex::Captures| {
            let code = u32::from_str_radix(&c[1], 16).expect("hex digits");
            char::from_u32(code).unwrap_or('\u{FFFD}').to_string()
        })
        .into_owned()
}

fn convert_key(strategy: PushSecretConversionStrategy, key: &str) -> String {
    match strategy {
        PushSecretConversionStrategy::None => key.to_string(),
        PushSecretConversionStrategy::ReverseUnicode => reverse_unicode(key),
    }
}

/// The source data with its keys converted; two keys converting to one is an error.
fn convert(strategy: PushSecretConversionStrategy, source: &BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in source {
        let key = convert_key(strategy, k);
        if out.insert(key.clone(), v.clone()).is_some() {
            return Err(format!("secret name collision during conversion: {key}"));
        }
    }
    Ok(out)
}

/// The whole data as one JSON object of strings (an entry without `secretKey`, a bundle).
fn as_json(data: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let map: BTreeMap<&String, String> = data.iter().map(|(k, v)| (k, String::from_utf8_lossy(v).into_owned())).collect();
    serde_json::to_vec(&map).expect("a map of strings serialises")
}

/// `dataTo` entries must name their store, by name among `secretStoreRefs` or by labels.
pub fn validate_data_to(spec: &PushSecretSpec) -> Result<(), String> {
    let kind = |k: &Option<String>| k.clone().unwrap_or_else(|| "SecretStore".into());
    for (i, d) in spec.data_to.iter().enumerate() {
        let Some(r) = &d.store_ref else { return Err(format!("dataTo[{i}]: storeRef is required")) };
        match (&r.name, &r.label_selector) {
            (None, None) => return Err(format!("dataTo[{i}]: storeRef must have name or labelSelector")),
            (Some(name), _) => {
                let listed = spec.secret_store_refs.iter().any(|s| s.name.as_ref() == Some(name) && kind(&s.kind) == kind(&r.kind));
                if !listed {
                    return Err(format!("dataTo[{i}]: storeRef {name:?} not found in secretStoreRefs"));
                }
            }
            (None, Some(_)) => {}
        }
    }
    Ok(())
}

/// Whether a `dataTo` entry writes to `store`.
pub fn data_to_targets(d: &PushSecretDataTo, store: &StoreInfo) -> Result<bool, String> {
    let Some(r) = &d.store_ref else { return Err("storeRef is required".into()) };
    let kind = r.kind.as_deref().unwrap_or("SecretStore");
    if let Some(name) = &r.name {
        return Ok(name == store.name && kind == store.kind);
    }
    let Some(selector) = &r.label_selector else { return Ok(false) };
    let selector = kube::core::Selector::try_from(selector.clone()).map_err(|e| format!("invalid labelSelector: {e}"))?;
    use kube::core::SelectorExt;
    Ok(kind == store.kind && selector.matches(store.labels))
}

/// One `dataTo` entry's writes, and the remote keys it claims (source key → remote key).
fn expand(d: &PushSecretDataTo, source: &BTreeMap<String, Vec<u8>>) -> Result<(Vec<PlannedWrite>, BTreeMap<String, String>), String> {
    if d.remote_key.as_deref().is_some_and(|k| !k.is_empty()) && !d.rewrite.is_empty() {
        return Err("remoteKey and rewrite are mutually exclusive: rewrite is only supported in per-key mode (without remoteKey)".into());
    }
    let converted = convert(d.conversion_strategy, source).map_err(|e| format!("conversion failed: {e}"))?;
    let pattern = d.r#match.as_ref().and_then(|m| m.regexp.as_deref()).filter(|r| !r.is_empty());
    let pattern = pattern.map(regex::Regex::new).transpose().map_err(|e| format!("match failed: invalid regexp: {e}"))?;
    let matched: BTreeMap<String, Vec<u8>> =
        converted.into_iter().filter(|(k, _)| pattern.as_ref().is_none_or(|p| p.is_match(k))).collect();
    if matched.is_empty() {
        return Ok((Vec::new(), BTreeMap::new()));
    }
    let entry = |secret_key: Option<String>, remote_key: String| PushSecretData {
        r#match: PushSecretMatch { secret_key, remote_ref: PushSecretRemoteRef { remote_key, property: None } },
        metadata: d.metadata.clone(),
        conversion_strategy: PushSecretConversionStrategy::None,
    };
    if let Some(remote_key) = d.remote_key.clone().filter(|k| !k.is_empty()) {
        let write = PlannedWrite { entry: entry(None, remote_key.clone()), value: as_json(&matched) };
        return Ok((vec![write], BTreeMap::from([("(bundle)".to_string(), remote_key)])));
    }
    let original: BTreeMap<String, &String> = source.keys().map(|k| (convert_key(d.conversion_strategy, k), k)).collect();
    let mut writes = Vec::new();
    let mut claimed = BTreeMap::new();
    for (key, value) in matched {
        let renamed = super::rewrite::rewrite_keys(BTreeMap::from([(key.clone(), Vec::new())]), &d.rewrite)
            .map_err(|e| format!("rewrite failed: {e}"))?
            .into_keys()
            .next()
            .unwrap_or_default();
        if renamed.is_empty() {
            return Err(format!("empty remote key produced for source key {key:?}"));
        }
        let secret_key = original.get(&key).map(|k| k.to_string()).unwrap_or(key.clone());
        claimed.insert(key, renamed.clone());
        writes.push(PlannedWrite { entry: entry(Some(secret_key), renamed), value });
    }
    Ok((writes, claimed))
}

/// The source key an explicit entry reads, in the Secret's own (unconverted) key space.
fn original_key(entry: &PushSecretData, source: &BTreeMap<String, Vec<u8>>) -> String {
    let key = entry.r#match.secret_key.clone().unwrap_or_default();
    if entry.conversion_strategy == PushSecretConversionStrategy::None {
        return key;
    }
    source.keys().find(|k| convert_key(entry.conversion_strategy, k) == key).cloned().unwrap_or(key)
}

/// Everything the PushSecret writes to `store`, in order: `dataTo` expansions (those not
/// overridden by an explicit entry for the same source key), then `data`.
pub fn plan(spec: &PushSecretSpec, store: &StoreInfo, source: &BTreeMap<String, Vec<u8>>) -> Result<Vec<PlannedWrite>, String> {
    let mut expanded = Vec::new();
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for (i, d) in spec.data_to.iter().enumerate() {
        if !data_to_targets(d, store).map_err(|e| format!("dataTo[{i}]: {e}"))? {
            continue;
        }
        let (writes, keys) = expand(d, source).map_err(|e| format!("dataTo[{i}]: {e}"))?;
        for (source_key, remote) in keys {
            if let Some(first) = claimed.get(&remote) {
                return Err(format!(
                    "dataTo[{i}]: duplicate remote key {remote:?} from source key {source_key:?} (conflicts with {first})"
                ));
            }
            claimed.insert(remote, format!("dataTo[{i}]:{source_key}"));
        }
        expanded.extend(writes);
    }
    let explicit_sources: BTreeSet<String> = spec.data.iter().map(|e| original_key(e, source)).collect();
    let mut out: Vec<PlannedWrite> =
        expanded.into_iter().filter(|w| !explicit_sources.contains(w.entry.r#match.secret_key.as_deref().unwrap_or_default())).collect();
    for entry in &spec.data {
        let data = convert(entry.conversion_strategy, source)?;
        let value = match entry.r#match.secret_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => data.get(key).cloned().ok_or_else(|| format!("secret key {key} does not exist"))?,
            None => as_json(&data),
        };
        out.push(PlannedWrite { entry: entry.clone(), value });
    }
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for w in &out {
        let r = &w.entry.r#match.remote_ref;
        let at = (r.remote_key.clone(), r.property.clone().unwrap_or_default());
        let from = w.entry.r#match.secret_key.clone().unwrap_or_default();
        if let Some(first) = seen.insert(at.clone(), from.clone()) {
            return Err(match at.1.as_str() {
                "" => format!("duplicate remote key {:?}: source keys {first:?} and {from:?} both map to the same destination", at.0),
                p => format!(
                    "duplicate remote key {:?} with property {p:?}: source keys {first:?} and {from:?} both map to the same destination",
                    at.0
                ),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PushSecretSpec {
        let mut v = v;
        v["selector"] = serde_json::json!({"secret": {"name": "src"}});
        serde_json::from_value(v).unwrap()
    }

    fn source(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    fn written(plan: &[PlannedWrite]) -> Vec<(String, String)> {
        plan.iter().map(|w| (status_key(&w.entry), String::from_utf8(w.value.clone()).unwrap())).collect()
    }

    const NO_LABELS: &BTreeMap<String, String> = &BTreeMap::new();
    const STORE: StoreInfo = StoreInfo { kind: "SecretStore", name: "s", labels: NO_LABELS };

    #[test]
    fn data_to_pushes_each_matched_key_renamed_and_explicit_data_wins_for_its_key() {
        let s = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "dataTo": [{"storeRef": {"name": "s"}, "match": {"regexp": "^db-"},
                        "rewrite": [{"regexp": {"source": "^db-", "target": "app/db/"}}]}],
            "data": [{"match": {"secretKey": "db-pass", "remoteRef": {"remoteKey": "special"}}}],
        }));
        let src = source(&[("db-user", "u"), ("db-pass", "p"), ("other", "o")]);
        let plan = plan(&s, &STORE, &src).unwrap();
        assert_eq!(written(&plan), [("app/db/user".into(), "u".into()), ("special".into(), "p".into())]);
        assert_eq!(plan[0].entry.r#match.secret_key.as_deref(), Some("db-user"));
    }

    #[test]
    fn a_bundle_pushes_only_the_matched_keys_as_one_json_object() {
        let s = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "dataTo": [{"storeRef": {"name": "s"}, "remoteKey": "bundle", "match": {"regexp": "^DB_"}}],
        }));
        let plan = plan(&s, &STORE, &source(&[("DB_HOST", "h"), ("DB_USER", "u"), ("API", "a")])).unwrap();
        assert_eq!(written(&plan), [("bundle".into(), r#"{"DB_HOST":"h","DB_USER":"u"}"#.into())]);
    }

    #[test]
    fn conflicts_and_bad_store_refs_are_refused_with_esos_reasons() {
        let both = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "dataTo": [{"storeRef": {"name": "s"}, "remoteKey": "b", "rewrite": [{"regexp": {"source": "a", "target": "b"}}]}],
        }));
        assert!(plan(&both, &STORE, &source(&[("a", "1")])).unwrap_err().contains("mutually exclusive"));
        let twice = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "dataTo": [{"storeRef": {"name": "s"}}],
            "data": [{"match": {"secretKey": "b", "remoteRef": {"remoteKey": "a"}}}],
        }));
        let err = plan(&twice, &STORE, &source(&[("a", "1"), ("b", "2")])).unwrap_err();
        assert!(err.starts_with("duplicate remote key \"a\""), "{err}");
        let elsewhere = spec(serde_json::json!({"secretStoreRefs": [{"name": "s"}], "dataTo": [{"storeRef": {"name": "t"}}]}));
        assert_eq!(validate_data_to(&elsewhere).unwrap_err(), "dataTo[0]: storeRef \"t\" not found in secretStoreRefs");
        let none = spec(serde_json::json!({"secretStoreRefs": [{"name": "s"}], "dataTo": [{}]}));
        assert_eq!(validate_data_to(&none).unwrap_err(), "dataTo[0]: storeRef is required");
    }

    #[test]
    fn data_to_for_another_store_writes_nothing_here() {
        let s = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}, {"name": "t"}], "dataTo": [{"storeRef": {"name": "t"}}],
        }));
        assert!(plan(&s, &STORE, &source(&[("a", "1")])).unwrap().is_empty());
    }

    #[test]
    fn reverse_unicode_restores_the_characters_an_external_secret_escaped() {
        assert_eq!(reverse_unicode("db_U002e_host_U0040_x"), "db.host@x");
        assert_eq!(reverse_unicode("emoji_U1f600_"), "emoji\u{1f600}");
        assert_eq!(reverse_unicode("surrogate_Ud800_"), "surrogate\u{FFFD}");
        let s = spec(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "data": [{"conversionStrategy": "ReverseUnicode", "match": {"secretKey": "a.b", "remoteRef": {"remoteKey": "r"}}}],
        }));
        assert_eq!(written(&plan(&s, &STORE, &source(&[("a_U002e_b", "v")])).unwrap()), [("r".into(), "v".into())]);
        let collide = convert(PushSecretConversionStrategy::ReverseUnicode, &source(&[("a_U002e_", "1"), ("a.", "2")]));
        assert!(collide.unwrap_err().contains("collision"));
    }
}
