//! The whole sync pipeline on the fake provider with arbitrary specs: `sesame::pipeline::fetch`
//! and `sesame render` (without `--reveal`). Values carry a marker so any leak into an error
//! message or the redacted output is caught.
use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{Value, json};
use sesame::api::{DecodingStrategy, DeletionPolicy, ExternalSecret, SecretStore};
use sesame::pipeline::{FetchError, Source, fetch};
use sesame::render::{Manifests, render};
use sesame_provider_core::{FindQuery, ProviderError, RemoteKey, SecretProvider, SecretValue};
use sesame_provider_fake::{FakeClient, FakeProvider, FakeProviderData};

use crate::{bounded, fuzz, runtime, spec::spec_json};

/// Every secret value contains this; no error text or redacted output may.
const MARK: &str = "S3CR3T";

struct Fake(FakeClient);

#[async_trait]
impl Source for Fake {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        self.0.get_secret(&key).await
    }
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.0.find(query, &sesame_provider_core::FindScope::unmetered()).await
    }
}

/// A remote value: plain text, a JSON document (dotted and nested keys), or base64.
fn remote_value() -> impl Strategy<Value = String> {
    (0u32..1000, 0u8..4).prop_map(|(n, shape)| match shape {
        0 => format!("{MARK}-plain-{n}"),
        1 => json!({"user": format!("{MARK}u{n}"), "a.b": format!("{MARK}ab{n}"), "n": n,
                    "nested": {"x": format!("{MARK}x{n}"), "list": [format!("{MARK}l{n}"), 2]}})
        .to_string(),
        2 => base64::engine::general_purpose::STANDARD.encode(format!("{MARK}-b64-{n}")),
        _ => format!("{MARK} with spaces/and:symbols {n}"),
    })
}

/// The fake store's data: keys the spec generator names (`/a`..`/c`) plus a few others.
fn store_data() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![3 => "/[a-c]", 1 => "/[a-c]/[a-z ]{1,3}", 1 => "[a-z.]{1,4}"];
    prop::collection::vec((key, remote_value()), 0..6)
}

fn parse_es(spec: Value) -> ExternalSecret {
    serde_json::from_value(json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "es", "namespace": "fuzz"}, "spec": spec}))
    .expect("spec_json produces parseable specs")
}

fn fake(data: &[(String, String)]) -> FakeClient {
    let data = data.iter().map(|(k, v)| FakeProviderData { key: k.clone(), value: v.clone(), version: None }).collect();
    FakeClient::new(&FakeProvider { data, validation_result: None })
}

#[test]
fn fetch_on_the_fake_provider_never_panics_and_never_leaks() {
    let rt = runtime();
    fuzz("pipeline::fetch (fake provider)", 2000, (spec_json(), store_data()), |(spec, data)| {
        let es = parse_es(spec);
        let source = Fake(fake(&data));
        let result = rt
            .block_on(async { tokio::time::timeout(crate::CALL_LIMIT, fetch(&es.spec, &source)).await })
            .map_err(|_| TestCaseError::fail("fetch did not finish in time"))?;
        let remote: BTreeMap<&str, &str> = data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match result {
            Ok(fetched) => {
                for key in fetched.data.keys() {
                    prop_assert!(sesame::pipeline::keys::validate_key(key).is_ok(), "invalid key {key:?} reached the Secret");
                }
                if es.spec.target.deletion_policy == DeletionPolicy::Retain {
                    prop_assert!(fetched.missing.is_empty(), "Retain tolerated a missing secret: {:?}", fetched.missing);
                }
                // `data` entries are applied last, so their plain values land as they are.
                for d in &es.spec.data {
                    let r = &d.remote_ref;
                    let plain = r.property.is_none() && r.decoding_strategy.unwrap_or_default() == DecodingStrategy::None;
                    if let (true, Some(v)) = (plain, remote.get(r.key.as_str())) {
                        prop_assert_eq!(fetched.data.get(&d.secret_key).map(Vec::as_slice), Some(v.as_bytes()));
                    }
                }
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.contains(MARK), "a secret value leaked into an error: {text}");
                if let FetchError::Provider { source, .. } = &e {
                    prop_assert!(!source.to_string().contains(MARK));
                }
            }
        }
        Ok(())
    });
}

#[test]
fn render_without_reveal_never_prints_a_value() {
    let rt = runtime();
    fuzz("render (redacted)", 1000, (spec_json(), store_data()), |(spec, data)| {
        let es = parse_es(spec);
        let entries: Vec<Value> = data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let store: SecretStore = serde_json::from_value(json!({"apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore", "metadata": {"name": "store", "namespace": "fuzz"},
            "spec": {"provider": {"fake": {"data": entries}}}}))
        .expect("fake store parses");
        let manifests = Manifests { external_secrets: vec![es], stores: vec![store], ..Default::default() };
        let (out, errors) = bounded("render", || rt.block_on(render(&manifests, false)))?;
        prop_assert!(!out.contains(MARK), "redacted render printed a value:\n{out}");
        for (_, v) in &data {
            let encoded = base64::engine::general_purpose::STANDARD.encode(v);
            prop_assert!(!out.contains(&encoded), "redacted render printed a base64 value:\n{out}");
        }
        for e in &errors {
            prop_assert!(!e.contains(MARK), "a value leaked into a render error: {e}");
        }
        prop_assert!(out.is_empty() != errors.is_empty(), "exactly one of output and error per ExternalSecret");
        Ok(())
    });
}
