//! ExternalSecret / SecretStore / ClusterSecretStore parsing from arbitrary JSON (what the
//! apiserver hands the controller and `render` reads from files), then the controller's own checks.
use proptest::prelude::*;
use serde_json::Value;
use sesame::api::{ClusterSecretStore, ExternalSecret, SecretStore};
use sesame::pipeline::validate_spec;

use crate::{bounded, fuzz, inputs};

/// Parse, serialise, parse again: the second object must mean the same as the first (checked by
/// the caller) and serialising is a fixpoint from then on (the controller writes status with what
/// it read; a drifting round trip would rewrite users' objects). The first step may normalise: an
/// explicit `kind: null` reads as "no kind" but an absent kind as the default `SecretStore`, which
/// `store_ref()` treats alike.
fn round_trip<T>(value: &Value) -> Result<Option<(T, T)>, TestCaseError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let Ok(parsed) = bounded("from_value", || serde_json::from_value::<T>(value.clone()))? else { return Ok(None) };
    let fail = |e: serde_json::Error| TestCaseError::fail(format!("a parsed object does not serialise and parse again: {e}"));
    let written = serde_json::to_value(&parsed).map_err(fail)?;
    let again: T = serde_json::from_value(written).map_err(fail)?;
    let rewritten = serde_json::to_value(&again).map_err(fail)?;
    let third: T = serde_json::from_value(rewritten.clone()).map_err(fail)?;
    prop_assert_eq!(serde_json::to_value(&third).map_err(fail)?, rewritten);
    Ok(Some((parsed, again)))
}

#[test]
fn external_secrets_parse_validate_and_round_trip() {
    fuzz("ExternalSecret from JSON", 4000, inputs::object("ExternalSecret"), |value| {
        if let Some((es, again)) = round_trip::<ExternalSecret>(&value)? {
            prop_assert_eq!(es.store_ref(), again.store_ref());
            prop_assert_eq!(es.target_name(), again.target_name());
            prop_assert_eq!(&es.spec.data, &again.spec.data);
            prop_assert_eq!(&es.spec.data_from, &again.spec.data_from);
            prop_assert_eq!(&es.spec.target, &again.spec.target);
            let checked = bounded("validate_spec", || validate_spec(&es.spec))?;
            if checked.is_ok() {
                prop_assert!(!es.spec.data.is_empty() || !es.spec.data_from.is_empty());
                for d in &es.spec.data {
                    prop_assert!(sesame::pipeline::keys::validate_key(&d.secret_key).is_ok());
                }
            }
            if let Some(interval) = &es.spec.refresh_interval {
                let _ = bounded("refreshInterval", || interval.parse())?;
            }
            let _ = (es.target_name(), es.store_ref());
        }
        Ok(())
    });
}

#[test]
fn stores_parse_and_round_trip() {
    let strategy = (inputs::object("SecretStore"), inputs::object("ClusterSecretStore"));
    fuzz("SecretStore/ClusterSecretStore from JSON", 3000, strategy, |(ss, css)| {
        if let Some((store, again)) = round_trip::<SecretStore>(&ss)? {
            prop_assert_eq!(&store.spec, &again.spec);
            if let Some(i) = &store.spec.refresh_interval {
                let _ = bounded("store refreshInterval", || i.parse())?;
            }
            let _ = store.spec.provider.kind();
        }
        if let Some((store, again)) = round_trip::<ClusterSecretStore>(&css)? {
            prop_assert_eq!(&store.spec, &again.spec);
            for c in &store.spec.store.conditions {
                for re in &c.namespace_regexes {
                    let _ = bounded("namespaceRegexes", || regex::Regex::new(re))?;
                }
            }
        }
        Ok(())
    });
}

/// Well-shaped specs with arbitrary field values: these get past serde, so they exercise
/// `validate_spec` itself (keys, duplicates, regexps, policy combinations).
pub fn spec_json() -> impl Strategy<Value = Value> {
    let policy = |v: &'static [&'static str]| prop::sample::select(v);
    let remote_ref = (
        prop_oneof![3 => "/[a-c]", 1 => inputs::text()],
        prop::option::of(prop_oneof!["[a-z.]{1,6}", inputs::text()]),
        prop::option::of(policy(&["Default", "Unicode"])),
        prop::option::of(policy(&["None", "Auto", "Base64", "Base64URL"])),
    )
        .prop_map(|(key, property, conversion, decoding)| {
            let mut r = serde_json::json!({"key": key});
            if let Some(p) = property {
                r["property"] = p.into();
            }
            if let Some(c) = conversion {
                r["conversionStrategy"] = c.into();
            }
            if let Some(d) = decoding {
                r["decodingStrategy"] = d.into();
            }
            r
        })
        .boxed();
    let data = (prop_oneof![3 => "[a-z]{1,3}", 1 => inputs::text()], remote_ref.clone())
        .prop_map(|(k, r)| serde_json::json!({"secretKey": k, "remoteRef": r}));
    let regexp = prop_oneof![3 => "[a-z/^$.*]{0,6}", 1 => inputs::text()].boxed();
    let rewrite = (regexp.clone(), prop_oneof!["[a-z_$1]{0,4}", inputs::text()])
        .prop_map(|(source, target)| serde_json::json!({"regexp": {"source": source, "target": target}}));
    let find = (prop::option::of("/[a-c]?"), prop::option::of(regexp), prop::option::of(policy(&["Default", "Unicode"]))).prop_map(
        |(path, name, conversion)| {
            let mut f = serde_json::json!({});
            if let Some(p) = path {
                f["path"] = p.into();
            }
            if let Some(n) = name {
                f["name"] = serde_json::json!({"regexp": n});
            }
            if let Some(c) = conversion {
                f["conversionStrategy"] = c.into();
            }
            f
        },
    );
    let data_from = (prop::option::of(remote_ref), prop::option::of(find), prop::collection::vec(rewrite, 0..3)).prop_map(
        |(extract, find, rewrite)| {
            let mut df = serde_json::json!({"rewrite": rewrite});
            if let Some(e) = extract {
                df["extract"] = e;
            }
            if let Some(f) = find {
                df["find"] = f;
            }
            df
        },
    );
    (
        prop::collection::vec(data, 0..4),
        prop::collection::vec(data_from, 0..3),
        policy(&["Owner", "Orphan", "Merge", "None"]),
        policy(&["Retain", "Delete", "Merge"]),
    )
        .prop_map(|(data, data_from, creation, deletion)| {
            serde_json::json!({
                "secretStoreRef": {"name": "store"},
                "refreshInterval": "1h",
                "target": {"name": "target", "creationPolicy": creation, "deletionPolicy": deletion},
                "data": data,
                "dataFrom": data_from,
            })
        })
}

#[test]
fn well_shaped_specs_are_checked_without_panic() {
    fuzz("validate_spec on well-shaped specs", 3000, spec_json(), |spec| {
        let es = serde_json::json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "es", "namespace": "fuzz"}, "spec": spec});
        let es: ExternalSecret = serde_json::from_value(es).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _ = bounded("validate_spec", || validate_spec(&es.spec))?;
        Ok(())
    });
}
