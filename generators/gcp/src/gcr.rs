//! `GCRAccessToken`: one fresh access token per generation, nothing remote to clean up.
use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_gcp::{Endpoints, GcpAuth, GcpProvider};

/// The registry login name Google documents for access tokens.
const USERNAME: &str = "oauth2accesstoken";

/// GCRAccessTokenSpec defines the desired state to generate a Google Container Registry access
/// token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcrAccessTokenSpec {
    /// Auth defines the means for authenticating with GCP, as a GCP Secret Manager store:
    /// `secretRef`, `workloadIdentity` or `workloadIdentityFederation`. With none of them the
    /// controller's application default credentials are used, which Sesame allows only in a
    /// ClusterGenerator (or with `--refuse-secretstore-controller-identity=false`).
    pub auth: GcpAuth,
    /// ProjectID defines which project to use to authenticate with.
    #[serde(rename = "projectID")]
    pub project_id: String,
}

/// The GCRAccessToken generator.
#[derive(Debug, Clone)]
pub struct GcrAccessToken {
    store: GcpProvider,
    endpoints: Endpoints,
}

impl GcrAccessToken {
    pub fn new(spec: GcrAccessTokenSpec) -> Result<Self, GeneratorError> {
        if spec.project_id.is_empty() {
            return Err(GeneratorError::Invalid("GCRAccessToken: projectID is required".into()));
        }
        let store = GcpProvider { auth: Some(spec.auth), project_id: Some(spec.project_id), ..Default::default() };
        store.check_urls()?;
        Ok(GcrAccessToken { store, endpoints: Endpoints::from_env() })
    }

    /// Point every Google endpoint somewhere else (tests).
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }
}

#[async_trait]
impl Generator for GcrAccessToken {
    fn kind(&self) -> &'static str {
        "GCRAccessToken"
    }

    fn controller_identity(&self) -> Option<&'static str> {
        self.store.controller_identity()
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let token = sesame_provider_gcp::access_token(&self.store, &ctx.provider, &self.endpoints).await?;
        let data = BTreeMap::from([
            ("username".to_string(), USERNAME.as_bytes().to_vec()),
            ("password".to_string(), token.token.into_bytes()),
            ("expiry".to_string(), token.expires_at.to_string().into_bytes()),
        ]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Result<GcrAccessToken, GeneratorError> {
        GcrAccessToken::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn an_eso_spec_parses_and_what_cannot_work_is_refused_at_once() {
        let key = serde_json::json!({"secretRef": {"secretAccessKeySecretRef": {"name": "gcr", "key": "key.json"}}});
        spec(serde_json::json!({"projectID": "p1", "auth": key})).unwrap();
        let wi =
            serde_json::json!({"workloadIdentity": {"serviceAccountRef": {"name": "ksa"}, "clusterLocation": "eu", "clusterName": "c"}});
        spec(serde_json::json!({"projectID": "p1", "auth": wi})).unwrap();
        assert!(serde_json::from_value::<GcrAccessTokenSpec>(serde_json::json!({"projectID": "p1"})).is_err(), "auth is required");
        let wif = serde_json::json!({"workloadIdentityFederation": {"serviceAccountRef": {"name": "ksa"}, "audience": "a"}});
        assert_eq!(spec(serde_json::json!({"projectID": "p1", "auth": wif})).unwrap().controller_identity(), None);
        let adc = spec(serde_json::json!({"projectID": "p1", "auth": {}})).unwrap();
        assert!(adc.controller_identity().unwrap().contains("application default credentials"), "no auth is the controller's own");
        for (bad, why) in [
            (serde_json::json!({"projectID": "", "auth": key}), "projectID is required"),
            (serde_json::json!({"projectID": "p1/../x", "auth": key}), "projectID"),
        ] {
            let err = spec(bad.clone()).unwrap_err();
            assert!(matches!(&err, GeneratorError::Invalid(m) if m.contains(why)), "{bad}: {err}");
        }
    }
}
