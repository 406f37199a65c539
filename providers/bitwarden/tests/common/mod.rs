//! What the crate's tests share: the controller's side (the token Secret) and a store at the fake.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};
use sesame_provider_bitwarden::BitwardenSecretsManagerProvider;
use sesame_provider_core::{
    CaProvider, CredentialSource, NoCalls, ProviderContext, ProviderError, SecretKeySelector, SecretProvider, SecretValue,
    ServiceAccountSelector,
};

use crate::fake::FakeSdkServer;

pub const ORG: &str = "7c0d21ec-10d9-4972-bdf8-ec52df99cc86";
pub const PROJECT: &str = "9c713cd6-728c-437a-a783-252b0773a0bb";
pub const OTHER_PROJECT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// A machine account access token, in Bitwarden's shape.
pub const TOKEN: &str = "0.48b4774c-68fa-4f3a-9c8e-b0e000a6c2b3.MqKhIGJ0zI3rdpIkbOAbKnyuP7grR5:X8vbvA0bduihIDe/qrzIQQ==";

/// The Secret `bitwarden-access-token` holding the token under `token`, and a CA under `ca.crt`.
pub struct Creds {
    pub token: Mutex<String>,
    pub ca: String,
}

#[async_trait]
impl CredentialSource for Creds {
    async fn secret_key(&self, sel: &SecretKeySelector, _: Option<&str>) -> Result<SecretValue, ProviderError> {
        assert_eq!((sel.name.as_str(), sel.key.as_deref()), ("bitwarden-access-token", Some("token")));
        Ok(SecretValue::from(self.token.lock().unwrap().as_str()))
    }
    async fn service_account_token(&self, _: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        unreachable!()
    }
    async fn service_account_annotations(&self, _: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        unreachable!()
    }
    async fn ca_bundle(&self, ca: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        assert_eq!(ca.name, "bitwarden-tls-certs");
        Ok(self.ca.clone().into_bytes())
    }
}

/// ESO's documented store, at the fake, trusting its CA.
pub fn store(fake: &FakeSdkServer) -> Value {
    json!({
        "apiURL": "https://api.bitwarden.eu/",
        "identityURL": "https://identity.bitwarden.eu",
        "auth": {"secretRef": {"credentials": {"key": "token", "name": "bitwarden-access-token"}}},
        "bitwardenServerSDKURL": fake.url,
        "caBundle": base64::engine::general_purpose::STANDARD.encode(&fake.ca_pem),
        "organizationID": ORG,
        "projectID": PROJECT,
    })
}

pub async fn client_with(fake: &FakeSdkServer, spec: Value, token: &str) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let spec: BitwardenSecretsManagerProvider = serde_json::from_value(spec).unwrap();
    let creds = Creds { token: Mutex::new(token.into()), ca: fake.ca_pem.clone() };
    let ctx = ProviderContext { credentials: Arc::new(creds), calls: Arc::new(NoCalls) };
    sesame_provider_bitwarden::build(&spec, ctx).await
}

pub async fn client(fake: &FakeSdkServer) -> Arc<dyn SecretProvider> {
    client_with(fake, store(fake), TOKEN).await.expect("the store builds")
}
