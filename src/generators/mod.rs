//! The one place in `src/` that knows the generator kinds (`generators.external-secrets.io`): it
//! builds a generator from (kind, spec JSON), and declares each kind's CRD and the
//! ClusterGenerator's per-kind spec fields. Everything else handles generators by kind name.
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generator, GeneratorError};

mod cluster;

pub use cluster::{ClusterGenerator, ClusterGeneratorSpec};

/// Declares every generator kind: `Kind => crate::Type, crate::Spec, "clusterGeneratorField",
/// "plural", module, [shortnames]`.
macro_rules! generators {
    ($( $kind:tt => $ty:ty, $spec:ty, $field:ident, $plural:tt, $module:ident, [$($short:tt),*] );* $(;)?) => {
        /// The generator kinds this build serves.
        pub const KINDS: &[&str] = &[$($kind),*];

        /// Build a generator of `kind` from its spec (the `spec` of a generator object, or a
        /// ClusterGenerator's `spec.generator.<kind>Spec`).
        pub fn build(kind: &str, spec: serde_json::Value) -> Result<Arc<dyn Generator>, GeneratorError> {
            match kind {
                $( $kind => {
                    let spec: $spec = serde_json::from_value(spec).map_err(|e| GeneratorError::Invalid(format!("invalid {kind} spec: {e}")))?;
                    Ok(Arc::new(<$ty>::new(spec)?))
                } )*
                other => Err(GeneratorError::Invalid(format!("generator kind {other} is not supported by Sesame"))),
            }
        }

        /// The plural resource name of a namespaced generator kind.
        pub fn plural(kind: &str) -> Option<&'static str> {
            match kind {
                $( $kind => Some($plural), )*
                _ => None,
            }
        }

        /// The spec of each kind, as a ClusterGenerator carries it (`spec.generator.<kind>Spec`).
        /// Exactly one is set.
        #[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        #[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
        pub struct GeneratorSpecs {
            $(
                #[doc = concat!("The spec of a ", $kind, " generator.")]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$spec>,
            )*
        }

        impl GeneratorSpecs {
            /// The spec the ClusterGenerator's `spec.kind` names, as JSON.
            pub fn get(&self, kind: &str) -> Option<serde_json::Value> {
                match kind {
                    $( $kind => self.$field.as_ref().map(|s| serde_json::to_value(s).expect("a spec serialises")), )*
                    _ => None,
                }
            }
        }

        $(
            mod $module {
                use super::*;
                /// The object's spec is the kind's spec.
                #[derive(kube::CustomResource, Debug, Clone, Serialize, Deserialize, JsonSchema)]
                #[kube(
                    group = "generators.external-secrets.io",
                    version = "v1alpha1",
                    kind = $kind,
                    root = "Generator",
                    plural = $plural,
                    namespaced,
                    category = "external-secrets",
                    category = "external-secrets-generators",
                    $( shortname = $short, )*
                )]
                #[serde(transparent)]
                pub struct Spec(pub $spec);
            }
        )*

        /// The CRD of every generator kind, ClusterGenerator and GeneratorState, with their file names.
        pub fn crds() -> Vec<(String, CustomResourceDefinition)> {
            let mut all = vec![$( (format!("generators.external-secrets.io_{}.yaml", $plural), <$module::Generator>::crd()), )*];
            all.push(("generators.external-secrets.io_clustergenerators.yaml".into(), ClusterGenerator::crd()));
            all.push(("generators.external-secrets.io_generatorstates.yaml".into(), crate::api::generator_state_crd()));
            all
        }
    };
}

generators! {
    "Password" => sesame_generator_basic::Password, sesame_generator_basic::PasswordSpec, password_spec, "passwords", password, [];
    "UUID" => sesame_generator_basic::Uuid, sesame_generator_basic::UuidSpec, uuid_spec, "uuids", uuid, [];
    "Fake" => sesame_generator_basic::Fake, sesame_generator_basic::FakeSpec, fake_spec, "fakes", fake, [];
    "SSHKey" => sesame_generator_basic::SshKey, sesame_generator_basic::SshKeySpec, ssh_key_spec, "sshkeys", ssh_key, [];
    "MFA" => sesame_generator_basic::Mfa, sesame_generator_basic::MfaSpec, mfa_spec, "mfas", mfa, [];
    "ECRAuthorizationToken" => sesame_generator_aws::EcrAuthorizationToken, sesame_generator_aws::EcrAuthorizationTokenSpec, ecr_authorization_token_spec, "ecrauthorizationtokens", ecr_authorization_token, [];
    "STSSessionToken" => sesame_generator_aws::StsSessionToken, sesame_generator_aws::StsSessionTokenSpec, sts_session_token_spec, "stssessiontokens", sts_session_token, [];
    "VaultDynamicSecret" => sesame_generator_vault::VaultDynamicSecret, sesame_generator_vault::VaultDynamicSecretSpec, vault_dynamic_secret_spec, "vaultdynamicsecrets", vault_dynamic_secret, [];
    "GithubAccessToken" => sesame_generator_saas::GithubAccessToken, sesame_generator_saas::GithubAccessTokenSpec, github_access_token_spec, "githubaccesstokens", github_access_token, [];
    "GitlabDeployToken" => sesame_generator_saas::GitlabDeployToken, sesame_generator_saas::GitlabDeployTokenSpec, gitlab_deploy_token_spec, "gitlabdeploytokens", gitlab_deploy_token, [];
    "QuayAccessToken" => sesame_generator_saas::QuayAccessToken, sesame_generator_saas::QuayAccessTokenSpec, quay_access_token_spec, "quayaccesstokens", quay_access_token, [];
    "Grafana" => sesame_generator_saas::Grafana, sesame_generator_saas::GrafanaSpec, grafana_spec, "grafanas", grafana, [];
    "CloudsmithAccessToken" => sesame_generator_saas::CloudsmithAccessToken, sesame_generator_saas::CloudsmithAccessTokenSpec, cloudsmith_access_token_spec, "cloudsmithaccesstokens", cloudsmith_access_token, [];
    "Webhook" => sesame_generator_webhook::Webhook, sesame_generator_webhook::WebhookSpec, webhook_spec, "webhooks", webhook, [];
    "GCRAccessToken" => sesame_generator_gcp::GcrAccessToken, sesame_generator_gcp::GcrAccessTokenSpec, gcr_access_token_spec, "gcraccesstokens", gcr_access_token, [];
    "ACRAccessToken" => sesame_generator_azure::AcrAccessToken, sesame_generator_azure::AcrAccessTokenSpec, acr_access_token_spec, "acraccesstokens", acr_access_token, [];
}
