//! The 1Password Connect provider: `spec.provider.onepassword`, field-compatible with ESO's
//! onepassword store. Items are found by title (or native id) in the store's vaults, in their
//! priority order; `remoteRef.property` picks a field by label (default `password`) or a file
//! (`file/<name>`), so this provider applies the property itself
//! ([`SecretProvider::applies_property`](sesame_provider_core::SecretProvider::applies_property)).
//!
//! The configuration types are always compiled (the CRD generator needs them); the client, a small
//! typed one on `reqwest` (1Password publishes no Rust Connect SDK), sits behind the `client`
//! feature (default on).
#![forbid(unsafe_code)]
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderError, SecretKeySelector, checks, ns_ref, referent_fields};

/// At most this many vaults per store: each is one lookup per read.
pub const MAX_VAULTS: usize = 32;

/// Configures a store to read items from a 1Password Connect server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnePasswordProvider {
    /// How to authenticate with the Connect server.
    pub auth: OnePasswordAuth,
    /// The Connect server's URL, e.g. `http://onepassword-connect:8080`.
    pub connect_host: String,
    /// The vaults to search (by name or id), mapped to their order: an item is taken from the
    /// first vault, lowest number first, that holds it. The numbers must be unique.
    pub vaults: BTreeMap<String, i64>,
}

/// `auth`: the Connect token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnePasswordAuth {
    /// Where the Connect token is held.
    pub secret_ref: OnePasswordAuthSecretRef,
}

/// `auth.secretRef`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct OnePasswordAuthSecretRef {
    /// The Secret key holding the token used to authenticate with the Connect server.
    pub connect_token_secret_ref: SecretKeySelector,
}

impl OnePasswordProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        referent_fields(&[("auth.secretRef.connectTokenSecretRef", ns_ref(Some(&self.auth.secret_ref.connect_token_secret_ref)))])
    }

    /// `connectHost` is where the token goes: a plain http(s) base URL only.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        checks::base_url("connectHost", self.connect_host.trim_end_matches('/'), &["https", "http"])
    }

    /// ESO's store validation: the token ref is complete, at least one vault, unique orders.
    pub fn check_spec(&self) -> Result<(), ProviderError> {
        let invalid = |m: &str| Err(ProviderError::Invalid(format!("invalid 1Password store: {m}")));
        let token = &self.auth.secret_ref.connect_token_secret_ref;
        if token.name.is_empty() {
            return invalid("missing spec.provider.onepassword.auth.secretRef.connectTokenSecretRef.name");
        }
        if token.key.as_deref().unwrap_or_default().is_empty() {
            return invalid("missing spec.provider.onepassword.auth.secretRef.connectTokenSecretRef.key");
        }
        if self.vaults.is_empty() {
            return invalid("spec.provider.onepassword.vaults must name at least one vault");
        }
        if self.vaults.len() > MAX_VAULTS {
            return invalid(&format!("spec.provider.onepassword.vaults names more than {MAX_VAULTS} vaults"));
        }
        if self.vaults.keys().any(|v| v.is_empty() || v.len() > 256) {
            return invalid("a vault name in spec.provider.onepassword.vaults is empty or longer than 256 characters");
        }
        let mut orders: Vec<i64> = self.vaults.values().copied().collect();
        orders.sort_unstable();
        orders.dedup();
        if orders.len() != self.vaults.len() {
            return invalid("vault order numbers must be unique");
        }
        self.check_urls()
    }

    /// The vault names, lowest order first.
    pub fn sorted_vaults(&self) -> Vec<&str> {
        let mut v: Vec<(&str, i64)> = self.vaults.iter().map(|(k, o)| (k.as_str(), *o)).collect();
        v.sort_by_key(|(_, o)| *o);
        v.into_iter().map(|(k, _)| k).collect()
    }
}

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod connect;
#[cfg(feature = "client")]
mod find;
#[cfg(feature = "client")]
mod push;

#[cfg(feature = "client")]
pub use client::{OnePasswordClient, PROVIDER_NAME, build};

#[cfg(test)]
mod tests {
    use super::*;

    fn store(v: serde_json::Value) -> OnePasswordProvider {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_the_store_of_eso_docs() {
        let spec = store(serde_json::json!({
            "connectHost": "https://onepassword-connect",
            "vaults": {"staging": 1, "production": 2},
            "auth": {"secretRef": {"connectTokenSecretRef": {"name": "onepassword-connect-token-staging", "key": "token"}}}
        }));
        spec.check_spec().unwrap();
        assert_eq!(spec.sorted_vaults(), vec!["staging", "production"]);
        assert_eq!(spec.referent_refs(), vec!["auth.secretRef.connectTokenSecretRef"]);
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["auth"]["secretRef"]["connectTokenSecretRef"]["key"], "token");
    }

    #[test]
    fn eso_refusals_are_clear() {
        let base = serde_json::json!({
            "connectHost": "http://connect:8080", "vaults": {"a": 1},
            "auth": {"secretRef": {"connectTokenSecretRef": {"name": "t", "key": "token"}}}
        });
        let refusal = |patch: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            patch(&mut v);
            store(v).check_spec().unwrap_err().to_string()
        };
        assert!(refusal(&|v| v["vaults"] = serde_json::json!({})).contains("at least one vault"));
        assert!(refusal(&|v| v["vaults"] = serde_json::json!({"a": 1, "b": 1})).contains("must be unique"));
        assert!(refusal(&|v| v["auth"]["secretRef"]["connectTokenSecretRef"]["key"] = "".into()).contains("Ref.key"));
        assert!(refusal(&|v| v["connectHost"] = "http://user@evil/".into()).contains("connectHost"));
        assert!(refusal(&|v| v["connectHost"] = "connect:8080".into()).contains("connectHost"));
    }
}
