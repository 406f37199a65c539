//! `spec.provider.aws`: the store configuration, field for field as ESO's `AWSProvider`.
use crate::session_tags::{RESERVED_TAGS_MESSAGE, RESERVED_TAGS_RULE, SessionTagsPolicy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_core::{ProviderError, SecretKeySelector, ServiceAccountSelector, checks, ns_ref, referent_fields};

/// Configures a store to read from AWS Secrets Manager or AWS Systems Manager Parameter Store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// The AWS service to read from: `SecretsManager` or `ParameterStore`. `CertificateManager`
    /// (an ESO value) is accepted, but Sesame cannot read from it: the store reports so in its
    /// Ready condition.
    pub service: AwsServiceType,
    /// The AWS region of the service, e.g. `eu-west-1`. It becomes part of the endpoint's host
    /// name, so it must be one lowercase DNS label.
    #[schemars(regex(pattern = r"^[a-z0-9-]*$"))]
    pub region: String,
    /// An IAM role ARN to assume (sts:AssumeRole) with the credentials from `auth` (after
    /// `additionalRoles`). `externalID`, `sessionTags` and `transitiveTagKeys` apply to this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// IAM role ARNs assumed in order before `role`: each one with the credentials of the one
    /// before (role chaining).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_roles: Vec<String>,
    /// The external ID passed when assuming `role`, as the role's trust policy may require.
    #[serde(default, rename = "externalID", skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Session tags passed when assuming `role`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_tags: Vec<Tag>,
    /// Keys of `sessionTags` that persist into roles assumed later in a chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
    /// SessionTagsPolicy controls whether and how STS session tags are added when assuming
    /// `role`: `None` (default) adds none beyond `sessionTags`. `Simple` tags the session with
    /// `esoNamespace` (the ExternalSecret's namespace), `esoStoreName` and `esoStoreKind`;
    /// `Custom` adds `customSessionTags` to those. With `Simple` or `Custom` these tags replace
    /// `sessionTags` (as ESO does). The role must allow `sts:TagSession`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "None"))]
    pub session_tags_policy: Option<SessionTagsPolicy>,
    /// CustomSessionTags defines additional STS session tags to include when SessionTagsPolicy is
    /// Custom. Tags with an empty key or value are skipped. The reserved keys `esoNamespace`,
    /// `esoStoreName` and `esoStoreKind` are refused.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": RESERVED_TAGS_RULE, "message": RESERVED_TAGS_MESSAGE}]))]
    pub custom_session_tags: std::collections::BTreeMap<String, String>,
    /// A prefix prepended to every remote key this store reads, e.g. `prod/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// How to authenticate. With neither `secretRef` nor `jwt`, the controller's own AWS
    /// credentials are used (the SDK default chain: IRSA environment, EKS Pod Identity, instance
    /// profile).
    #[serde(default, skip_serializing_if = "AwsAuth::is_empty")]
    pub auth: AwsAuth,
    /// Secrets Manager options used when deleting pushed secrets (PushSecret `deletionPolicy:
    /// Delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<SecretsManagerOptions>,
}

impl AwsProvider {
    /// The credential refs that name no namespace (resolved per ExternalSecret namespace in a
    /// ClusterSecretStore).
    pub fn referent_refs(&self) -> Vec<&'static str> {
        let keys = self.auth.secret_ref.as_ref();
        referent_fields(&[
            ("auth.secretRef.accessKeyIDSecretRef", ns_ref(keys.map(|k| &k.access_key_id))),
            ("auth.secretRef.secretAccessKeySecretRef", ns_ref(keys.map(|k| &k.secret_access_key))),
            ("auth.secretRef.sessionTokenSecretRef", ns_ref(keys.and_then(|k| k.session_token.as_ref()))),
            ("auth.jwt.serviceAccountRef", ns_ref(self.auth.jwt.as_ref().map(|j| &j.service_account_ref))),
        ])
    }

    /// The fields that reach a URL: the region is part of every endpoint's host name.
    pub fn check_urls(&self) -> Result<(), ProviderError> {
        match self.region.as_str() {
            "" => Ok(()),
            region => checks::host_label("region", region),
        }
    }

    /// How the store authenticates as the controller itself, if it does.
    pub fn controller_identity(&self) -> Option<&'static str> {
        self.auth.is_empty().then_some("the controller's AWS credentials (SDK default chain: no auth.secretRef or auth.jwt)")
    }
}

/// Which AWS service a store reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AwsServiceType {
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
    /// AWS Certificate Manager: accepted for ESO manifests, not supported (ESO uses it mainly to
    /// push certificates, which Sesame does not do).
    CertificateManager,
}

impl AwsServiceType {
    /// The `provider` label of the API call metrics.
    pub fn provider_name(self) -> &'static str {
        match self {
            AwsServiceType::SecretsManager => "AWS/SecretsManager",
            AwsServiceType::ParameterStore => "AWS/ParameterStore",
            AwsServiceType::CertificateManager => "AWS/CertificateManager",
        }
    }

    /// How many keys one read call of this service takes (`BatchGetSecretValue`: 20,
    /// `GetParameters`: 10), decided from the spec before a client is built.
    pub const fn keys_per_call(self) -> usize {
        match self {
            AwsServiceType::SecretsManager => 20,
            AwsServiceType::ParameterStore => 10,
            AwsServiceType::CertificateManager => 1,
        }
    }

    /// Why Sesame cannot read from this service, for the store's Ready condition.
    pub fn unsupported(self) -> Option<String> {
        match self {
            AwsServiceType::SecretsManager | AwsServiceType::ParameterStore => None,
            AwsServiceType::CertificateManager => {
                Some("aws service CertificateManager is not supported by Sesame; use SecretsManager or ParameterStore".to_string())
            }
        }
    }
}

/// A session tag: a key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The tag key.
    pub key: String,
    /// The tag value.
    pub value: String,
}

/// How a store authenticates to AWS. `jwt` wins over `secretRef` when both are set, as in ESO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    /// Static access keys read from a Kubernetes Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// Web identity: a token for a Kubernetes ServiceAccount, exchanged with
    /// sts:AssumeRoleWithWebIdentity for the role in its `eks.amazonaws.com/role-arn` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<AwsJwtAuth>,
}

impl AwsAuth {
    pub fn is_empty(&self) -> bool {
        self.secret_ref.is_none() && self.jwt.is_none()
    }
}

/// Where the static AWS access keys are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuthSecretRef {
    /// The access key ID (`AKIA…`).
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id: SecretKeySelector,
    /// The secret access key.
    #[serde(rename = "secretAccessKeySecretRef")]
    pub secret_access_key: SecretKeySelector,
    /// A session token, for temporary credentials.
    #[serde(rename = "sessionTokenSecretRef", default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretKeySelector>,
}

/// Web-identity authentication with a Kubernetes ServiceAccount token (IRSA for a named
/// ServiceAccount instead of the controller's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsJwtAuth {
    /// The ServiceAccount whose token is requested. Its `eks.amazonaws.com/role-arn` annotation
    /// names the role; the token's audience is its `eks.amazonaws.com/audience` annotation
    /// (default `sts.amazonaws.com`) plus `audiences`.
    pub service_account_ref: ServiceAccountSelector,
}

/// Secrets Manager options for deleting pushed secrets, checked before each delete as ESO does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretsManagerOptions {
    /// Delete a pushed secret at once, without a recovery window. Conflicts with
    /// `recoveryWindowInDays`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete_without_recovery: bool,
    /// The recovery window of a deleted pushed secret, 7 to 30 days (unset or 0: AWS's default,
    /// 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_window_in_days: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_eso_store_with_every_field() {
        let yaml = serde_json::json!({
            "service": "SecretsManager",
            "region": "eu-west-1",
            "role": "arn:aws:iam::123456789012:role/reader",
            "additionalRoles": ["arn:aws:iam::123456789012:role/hop"],
            "externalID": "ext-1",
            "sessionTags": [{"key": "team", "value": "payments"}],
            "transitiveTagKeys": ["team"],
            "prefix": "prod/",
            "auth": {
                "secretRef": {
                    "accessKeyIDSecretRef": {"name": "aws", "key": "access-key"},
                    "secretAccessKeySecretRef": {"name": "aws", "key": "secret-key"},
                    "sessionTokenSecretRef": {"name": "aws", "key": "token"}
                },
                "jwt": {"serviceAccountRef": {"name": "reader", "audiences": ["extra"]}}
            }
        });
        let p: AwsProvider = serde_json::from_value(yaml.clone()).unwrap();
        assert_eq!(p.service, AwsServiceType::SecretsManager);
        assert_eq!(p.external_id.as_deref(), Some("ext-1"));
        assert_eq!(p.session_tags[0].value, "payments");
        let sr = p.auth.secret_ref.as_ref().unwrap();
        assert_eq!(sr.access_key_id.key.as_deref(), Some("access-key"));
        assert_eq!(sr.session_token.as_ref().unwrap().key.as_deref(), Some("token"));
        assert_eq!(p.auth.jwt.as_ref().unwrap().service_account_ref.name, "reader");
        assert_eq!(serde_json::to_value(&p).unwrap(), yaml, "round-trips with ESO's field names");
    }

    #[test]
    fn a_hostile_region_is_refused_before_any_endpoint_is_built() {
        let p: AwsProvider = serde_json::from_value(serde_json::json!({"service": "SecretsManager", "region": "evil.example/x#"})).unwrap();
        assert!(matches!(p.check_urls(), Err(ProviderError::Invalid(m)) if m.contains("region")));
        let p: AwsProvider = serde_json::from_value(serde_json::json!({"service": "SecretsManager", "region": "eu-west-1"})).unwrap();
        p.check_urls().unwrap();
    }

    #[test]
    fn refs_without_a_namespace_are_referent_and_no_auth_is_the_controllers_identity() {
        let p: AwsProvider = serde_json::from_value(serde_json::json!({"service": "SecretsManager", "region": "eu-west-1",
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "a", "key": "id", "namespace": "ops"},
                "secretAccessKeySecretRef": {"name": "a", "key": "secret"}}}}))
        .unwrap();
        assert_eq!(p.referent_refs(), vec!["auth.secretRef.secretAccessKeySecretRef"]);
        assert_eq!(p.controller_identity(), None);
        let bare: AwsProvider = serde_json::from_value(serde_json::json!({"service": "SecretsManager", "region": "eu-west-1"})).unwrap();
        assert!(bare.referent_refs().is_empty());
        assert!(bare.controller_identity().is_some());
    }

    #[test]
    fn a_minimal_store_needs_only_service_and_region() {
        let p: AwsProvider = serde_json::from_value(serde_json::json!({"service": "ParameterStore", "region": "us-east-1"})).unwrap();
        assert_eq!(p.service.provider_name(), "AWS/ParameterStore");
        assert!(p.auth.is_empty());
        assert_eq!(serde_json::to_value(&p).unwrap(), serde_json::json!({"service": "ParameterStore", "region": "us-east-1"}));
    }

    #[test]
    fn an_eso_service_sesame_cannot_read_decodes_and_says_so() {
        let p: AwsProvider = serde_json::from_value(serde_json::json!({"service": "CertificateManager", "region": "us-east-1"})).unwrap();
        assert!(p.service.unsupported().unwrap().contains("CertificateManager is not supported"));
        assert_eq!(AwsServiceType::SecretsManager.unsupported(), None);
    }

    #[test]
    fn the_example_store_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/aws/secretstore.yaml");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
        let store = docs.iter().find(|d| d["kind"] == "SecretStore").expect("a SecretStore");
        assert_eq!(store["apiVersion"], "external-secrets.io/v1");
        let aws: AwsProvider = serde_json::from_value(store["spec"]["provider"]["aws"].clone()).unwrap();
        let keys = aws.auth.secret_ref.expect("static keys");
        let secret = docs.iter().find(|d| d["kind"] == "Secret").expect("the key Secret");
        assert_eq!(secret["metadata"]["name"], keys.access_key_id.name.as_str());
        assert!(secret["stringData"][keys.secret_access_key.key.unwrap()].is_string());
    }

    #[test]
    fn the_schema_names_eso_fields_and_describes_them() {
        let schema = serde_json::to_value(schemars::schema_for!(AwsProvider)).unwrap();
        let text = schema.to_string();
        for field in ["externalID", "accessKeyIDSecretRef", "sessionTokenSecretRef", "serviceAccountRef", "transitiveTagKeys"] {
            assert!(text.contains(field), "schema lacks {field}");
        }
        let role = &schema["properties"]["role"]["description"];
        assert!(role.as_str().unwrap().contains("AssumeRole"));
    }
}
