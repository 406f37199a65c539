//! The Webhook store client: one GET (by default) per remote key, as ESO's Webhook provider.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sesame_provider_core::{Capabilities, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue};

use crate::request::{TemplateData, WebhookCaller};
use crate::{PROVIDER, WebhookProvider};

/// Build the client for one store.
pub async fn build(spec: &WebhookProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    let caller = WebhookCaller::new(spec, ctx.credentials.as_ref()).await?;
    Ok(Arc::new(WebhookClient { caller, ctx }))
}

struct WebhookClient {
    caller: WebhookCaller,
    ctx: ProviderContext,
}

impl WebhookClient {
    async fn data(&self, remote_ref: &[(&str, &[u8])]) -> Result<TemplateData, ProviderError> {
        let mut data = self.caller.secrets_data(self.ctx.credentials.as_ref()).await?;
        data.insert("remoteRef".into(), remote_ref.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect());
        Ok(data)
    }

    fn method(&self, default: &str) -> String {
        self.caller.spec().method.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| default.to_string())
    }
}

#[async_trait]
impl SecretProvider for WebhookClient {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    /// As in ESO, `remoteRef.property` is template data (`.remoteRef.property`), never a JSON
    /// selection of the answer: the URL, headers, body and `result.jsonPath` pick what is read.
    fn applies_property(&self) -> bool {
        true
    }

    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        let version = key.version.clone().unwrap_or_default();
        let property = key.property.clone().unwrap_or_default();
        let data = self
            .data(&[("key", key.key.as_bytes()), ("version", version.as_bytes()), ("property", property.as_bytes()), ("namespace", b"")])
            .await?;
        let body = self.caller.spec().body.clone();
        let method = self.method("GET");
        let response = self.ctx.timed(PROVIDER, "HTTPRequest", self.caller.call(&method, &data, body.as_deref())).await?;
        self.caller.extract(response.body, &data).await.map(SecretValue::from)
    }

    /// `dataFrom.extract`: the answer (after `result.jsonPath`) as a JSON object's keys.
    async fn get_secret_map(&self, key: &RemoteKey) -> Result<std::collections::BTreeMap<String, SecretValue>, ProviderError> {
        let payload = self.get_secret(key).await?;
        sesame_provider_core::property::top_level_map(payload.as_bytes(), &key.key)
    }

    /// As ESO: the origin of the URL accepts a TCP connection.
    async fn validate(&self) -> Result<(), ProviderError> {
        let origin = crate::config::literal_origin(&self.caller.spec().url)?;
        let url = reqwest::Url::parse(origin).map_err(|_| ProviderError::Invalid("url is not a URL".into()))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        match tokio::time::timeout(Duration::from_secs(15), tokio::net::TcpStream::connect((host.as_str(), port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ProviderError::Transient(format!("webhook {origin}: cannot connect: {}", e.kind()))),
            Err(_) => Err(ProviderError::Transient(format!("webhook {origin}: connection timed out"))),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    /// ESO's push: POST (by default) with `.remoteRef.remoteKey` and `.remoteRef.<remoteKey>`
    /// (the value); the default body is the value itself.
    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        if remote.key.is_empty() {
            return Err(ProviderError::Invalid("remote key must be defined".into()));
        }
        let data = self.data(&[("remoteKey", remote.key.as_bytes()), (remote.key.as_str(), value)]).await?;
        let default_body = format!("{{{{ index .remoteRef {:?} }}}}", remote.key);
        let body = self.caller.spec().body.clone().filter(|b| !b.is_empty()).unwrap_or(default_body);
        let method = self.method("POST");
        self.ctx.timed(PROVIDER, "HTTPRequest", self.caller.call(&method, &data, Some(&body))).await.map(|_| ())
    }

    /// ESO's delete: DELETE on the URL; a 404 means already gone.
    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let data = self.data(&[("remoteKey", remote.key.as_bytes())]).await?;
        match self.ctx.timed(PROVIDER, "HTTPRequest", self.caller.call("DELETE", &data, None)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// ESO's exists: a read of the key; 404 means absent.
    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        match self.get_secret(&RemoteKey::new(remote.key.clone())).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
