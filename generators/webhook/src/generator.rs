//! The Webhook generator: check the spec once, then one request per generation.
use async_trait::async_trait;
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_webhook::request::WebhookCaller;
use sesame_provider_webhook::{PROVIDER, WebhookProvider, map};

use crate::WebhookSpec;

/// The Webhook generator.
#[derive(Debug, Clone)]
pub struct Webhook {
    spec: WebhookProvider,
}

impl Webhook {
    /// Refuses at once what can never work: a templated or non-HTTP(S) origin, a bad timeout,
    /// NTLM, a `secrets[]` entry without its key.
    pub fn new(spec: WebhookSpec) -> Result<Self, GeneratorError> {
        let spec = spec.as_provider();
        spec.check_urls()?;
        if let Some(s) = spec.secrets.iter().find(|s| s.secret_ref.name.is_empty()) {
            return Err(GeneratorError::Invalid(format!("webhook secrets[{}].secretRef.name is required", s.name)));
        }
        Ok(Webhook { spec })
    }
}

pub use sesame_provider_webhook::request::TYPE_LABEL;

#[async_trait]
impl Generator for Webhook {
    fn kind(&self) -> &'static str {
        "Webhook"
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let creds = ctx.provider.credentials.as_ref();
        // Built per generation, as ESO does: a caProvider's bundle is read now, in this namespace.
        let caller = WebhookCaller::new(&self.spec, creds).await?;
        let data = caller.secrets_data(creds).await?;
        let method = self.spec.method.as_deref().unwrap_or("GET");
        let call = caller.call(method, &data, self.spec.body.as_deref());
        let response = ctx.provider.timed(PROVIDER, "HTTPRequest", call).await?;
        let data = map::secret_map(&response.body, self.spec.result.json_path.as_deref())?;
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> WebhookSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_eso_webhook_generator_parses_and_what_cannot_work_is_refused_at_once() {
        let ok = spec(serde_json::json!({
            "url": "https://api.example.com/tokens?team={{ .creds.team }}", "method": "POST", "body": "{}",
            "headers": {"Authorization": "Bearer {{ .creds.token }}"}, "timeout": "5s", "result": {"jsonPath": "$.data"},
            "secrets": [{"name": "creds", "secretRef": {"name": "api", "key": "token"}}],
        }));
        Webhook::new(ok).unwrap();
        assert!(serde_json::from_value::<WebhookSpec>(serde_json::json!({"url": "https://x"})).is_err(), "result is required");
        for (bad, why) in [
            (serde_json::json!({"url": "https://{{ .creds.host }}/x", "result": {}}), "literal"),
            (serde_json::json!({"url": "file:///etc/passwd", "result": {}}), "url"),
            (serde_json::json!({"url": "https://x", "result": {}, "timeout": "1h"}), "timeout"),
            (serde_json::json!({"url": "https://x", "result": {}, "secrets": [{"name": "c", "secretRef": {"key": "k"}}]}), "name"),
            (
                serde_json::json!({"url": "https://x", "result": {}, "auth": {"ntlm": {
                    "usernameSecret": {"name": "n", "key": "u"}, "passwordSecret": {"name": "n", "key": "p"}}}}),
                "ntlm",
            ),
        ] {
            let err = Webhook::new(spec(bad.clone())).unwrap_err();
            assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains(why)), "{bad}: {err}");
        }
    }
}
