//! ESO's `sessionTagsPolicy`: STS session tags that say which namespace and store a session is
//! for (attribute-based access control in the role's policies), on the AssumeRole of `role`.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::ProviderError;

use crate::config::AwsProvider;

/// ESO's `sessionTagsPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SessionTagsPolicy {
    /// No session tags are added (the default).
    None,
    /// The `esoNamespace`, `esoStoreName` and `esoStoreKind` tags.
    Simple,
    /// The `Simple` tags plus `customSessionTags`.
    Custom,
}

/// The tag keys injected automatically; `customSessionTags` may not use them.
pub const RESERVED_SESSION_TAG_KEYS: [&str; 3] = ["esoNamespace", "esoStoreName", "esoStoreKind"];
/// ESO's CEL rule on `customSessionTags` (the apiserver enforces it from Kubernetes 1.25 on;
/// [`AwsProvider::check_session_tags`] enforces it everywhere).
pub const RESERVED_TAGS_RULE: &str = "!('esoNamespace' in self) && !('esoStoreName' in self) && !('esoStoreKind' in self)";
pub(crate) const RESERVED_TAGS_MESSAGE: &str =
    "customSessionTags cannot contain automatically injected reserved keys: esoNamespace, esoStoreName, esoStoreKind";
/// AWS accepts at most 50 session tags on one AssumeRole.
const MAX_SESSION_TAGS: usize = 50;

/// Who a client's session is for: the values of the automatic session tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The namespace of the ExternalSecret (or PushSecret) the client serves; empty when a
    /// ClusterSecretStore is validated on its own.
    pub namespace: String,
    /// The store's name.
    pub store_name: String,
    /// `SecretStore` or `ClusterSecretStore`.
    pub store_kind: String,
}

impl AwsProvider {
    /// The CEL rule on `customSessionTags` and the count of tags AWS accepts. (As in ESO, the
    /// tags go on the AssumeRole of `role` only: without `role` they are not used.)
    pub fn check_session_tags(&self) -> Result<(), ProviderError> {
        if let Some(key) = self.custom_session_tags.keys().find(|k| RESERVED_SESSION_TAG_KEYS.contains(&k.as_str())) {
            return Err(ProviderError::Invalid(format!("{RESERVED_TAGS_MESSAGE} (got {key})")));
        }
        let count = match self.session_tags_policy {
            None | Some(SessionTagsPolicy::None) => self.session_tags.len(),
            Some(SessionTagsPolicy::Simple) => RESERVED_SESSION_TAG_KEYS.len(),
            Some(SessionTagsPolicy::Custom) => RESERVED_SESSION_TAG_KEYS.len() + self.custom_session_tags.len(),
        };
        if count > MAX_SESSION_TAGS {
            return Err(ProviderError::Invalid(format!("{count} session tags: AWS accepts at most {MAX_SESSION_TAGS}")));
        }
        Ok(())
    }

    /// Whether the session tags depend on the ExternalSecret's namespace, so that a
    /// ClusterSecretStore needs one client per namespace.
    pub fn tags_per_namespace(&self) -> bool {
        self.role.as_deref().is_some_and(|r| !r.is_empty())
            && matches!(self.session_tags_policy, Some(SessionTagsPolicy::Simple | SessionTagsPolicy::Custom))
    }

    /// The session tags of the AssumeRole of `role`, as ESO: `sessionTags` under `None`; under
    /// `Simple` and `Custom` the automatic tags (plus the non-empty `customSessionTags`) instead.
    pub fn assume_role_tags(&self, origin: &SessionOrigin) -> Vec<(String, String)> {
        let custom = match self.session_tags_policy {
            None | Some(SessionTagsPolicy::None) => {
                return self.session_tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
            }
            Some(SessionTagsPolicy::Simple) => Default::default(),
            Some(SessionTagsPolicy::Custom) => self.custom_session_tags.clone(),
        };
        let mut tags: std::collections::BTreeMap<String, String> =
            custom.into_iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()).collect();
        // Set last: the automatic tags always win.
        tags.insert("esoNamespace".into(), origin.namespace.clone());
        tags.insert("esoStoreName".into(), origin.store_name.clone());
        tags.insert("esoStoreKind".into(), origin.store_kind.clone());
        tags.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: serde_json::Value) -> AwsProvider {
        let mut v = serde_json::json!({"service": "SecretsManager", "region": "us-east-1", "role": "arn:aws:iam::1:role/r"});
        v.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap());
        serde_json::from_value(v).unwrap()
    }

    fn origin() -> SessionOrigin {
        SessionOrigin { namespace: "team-b".into(), store_name: "team-b-store".into(), store_kind: "SecretStore".into() }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn without_a_policy_the_session_carries_the_static_session_tags() {
        let store = parse(serde_json::json!({"sessionTags": [{"key": "team", "value": "payments"}]}));
        assert_eq!(store.assume_role_tags(&origin()), pairs(&[("team", "payments")]));
        let none = parse(serde_json::json!({"sessionTagsPolicy": "None", "customSessionTags": {"env": "prod"}}));
        assert_eq!(none.assume_role_tags(&origin()), vec![], "customSessionTags need Custom");
        assert!(!store.tags_per_namespace() && !none.tags_per_namespace());
    }

    #[test]
    fn simple_tags_the_session_with_namespace_store_name_and_kind_instead_of_session_tags() {
        let store = parse(serde_json::json!({"sessionTagsPolicy": "Simple", "sessionTags": [{"key": "team", "value": "payments"}]}));
        let want = pairs(&[("esoNamespace", "team-b"), ("esoStoreKind", "SecretStore"), ("esoStoreName", "team-b-store")]);
        assert_eq!(store.assume_role_tags(&origin()), want);
        assert!(store.tags_per_namespace());
    }

    #[test]
    fn custom_adds_its_non_empty_tags_to_the_automatic_ones() {
        let store = parse(serde_json::json!({
            "sessionTagsPolicy": "Custom",
            "customSessionTags": {"env": "production", "team": "platform", "empty": "", "": "no-key"},
        }));
        let want = pairs(&[
            ("env", "production"),
            ("esoNamespace", "team-b"),
            ("esoStoreKind", "SecretStore"),
            ("esoStoreName", "team-b-store"),
            ("team", "platform"),
        ]);
        assert_eq!(store.assume_role_tags(&origin()), want);
        assert!(store.check_session_tags().is_ok());
    }

    #[test]
    fn reserved_keys_in_custom_session_tags_are_refused_as_the_crd_rule_says() {
        for key in RESERVED_SESSION_TAG_KEYS {
            let store = parse(serde_json::json!({"sessionTagsPolicy": "Custom", "customSessionTags": {key: "mine"}}));
            let err = store.check_session_tags().unwrap_err().to_string();
            assert!(err.contains(RESERVED_TAGS_MESSAGE) && err.contains(key), "{err}");
            // Refused whatever the policy, as the CEL rule on the field is.
            let simple = parse(serde_json::json!({"sessionTagsPolicy": "Simple", "customSessionTags": {key: "mine"}}));
            assert!(simple.check_session_tags().is_err());
        }
    }

    #[test]
    fn more_tags_than_aws_accepts_are_refused_before_any_call() {
        let many: serde_json::Map<String, serde_json::Value> = (0..48).map(|i| (format!("k{i}"), "v".into())).collect();
        let store = parse(serde_json::json!({"sessionTagsPolicy": "Custom", "customSessionTags": many}));
        let err = store.check_session_tags().unwrap_err().to_string();
        assert!(err.contains("51 session tags") && err.contains("at most 50"), "{err}");
    }

    #[test]
    fn without_a_role_no_client_needs_a_namespace() {
        let mut store = parse(serde_json::json!({"sessionTagsPolicy": "Simple"}));
        store.role = None;
        assert!(!store.tags_per_namespace());
    }

    #[test]
    fn the_crd_carries_esos_cel_rule_on_custom_session_tags() {
        let schema = serde_json::to_value(schemars::schema_for!(AwsProvider)).unwrap();
        let field = &schema["properties"]["customSessionTags"];
        assert_eq!(field["x-kubernetes-validations"], serde_json::json!([{"rule": RESERVED_TAGS_RULE, "message": RESERVED_TAGS_MESSAGE}]));
        assert_eq!(RESERVED_TAGS_RULE, "!('esoNamespace' in self) && !('esoStoreName' in self) && !('esoStoreKind' in self)");
        assert_eq!(field["additionalProperties"]["type"], "string");
        assert_eq!(schema["properties"]["sessionTagsPolicy"]["default"], "None");
    }
}
