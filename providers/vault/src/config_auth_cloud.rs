//! `spec.provider.vault.auth.iam` and `.gcp`: ESO's `VaultIamAuth` (Vault's AWS auth method in
//! its IAM flavour: a signed sts:GetCallerIdentity request that Vault replays to AWS) and
//! `VaultGCPAuth` (accepted in the schema, refused at build time).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_provider_aws::AwsAuthSecretRef;
use sesame_provider_core::ServiceAccountSelector;
use sesame_provider_gcp::{GcpSecretRef, GcpWorkloadIdentity};

/// AWS IAM login. The AWS credentials come from `jwt` (IRSA for a named ServiceAccount), else
/// `secretRef` (static keys), else the controller's own AWS identity (IRSA / EKS Pod Identity);
/// `role`, when set, is assumed with them first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultIamAuth {
    /// Path where the AWS auth method is enabled in Vault, e.g: "aws" (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// AWS region (default `us-east-1`): the region of the STS request that is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// This is the AWS role to be assumed before talking to vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Vault Role. In vault, a role describes an identity with a set of permissions, groups, or
    /// policies you want to attach a user of the secrets engine.
    pub vault_role: String,
    /// AWS External ID set on assumed IAM roles.
    #[serde(default, rename = "externalID", skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// X-Vault-AWS-IAM-Server-ID is an additional header used by Vault IAM auth method to
    /// mitigate against different types of replay attacks; it is signed with the request.
    #[serde(default, rename = "vaultAwsIamServerID", skip_serializing_if = "Option::is_none")]
    pub vault_aws_iam_server_id: Option<String>,
    /// Specify credentials in a Secret object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// Specify a service account with IRSA enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<VaultAwsJwtAuth>,
}

impl VaultIamAuth {
    /// The mount, `aws` unless set.
    pub fn mount(&self) -> &str {
        self.path.as_deref().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()).unwrap_or("aws")
    }

    /// The region, `us-east-1` unless set (as ESO).
    pub fn region(&self) -> &str {
        self.region.as_deref().filter(|r| !r.is_empty()).unwrap_or("us-east-1")
    }

    /// Neither `jwt` nor `secretRef`: the controller's own AWS identity is used.
    pub fn uses_controller_identity(&self) -> bool {
        self.jwt.is_none() && self.secret_ref.is_none()
    }
}

/// IRSA for a named ServiceAccount: its token is exchanged with
/// sts:AssumeRoleWithWebIdentity for the role in its `eks.amazonaws.com/role-arn` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultAwsJwtAuth {
    /// The ServiceAccount whose token is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}

fn gcp() -> String {
    "gcp".into()
}

/// GCP login (Vault's gcp auth method, `iam` roles): a JWT for `vault/<role>` is signed by the
/// Google service account of `secretRef` (its key) or `workloadIdentity` (the ServiceAccount's
/// `iam.gke.io/gcp-service-account`) with IAM Credentials `signJwt`, and posted to
/// `auth/<path>/login`. Without either (`serviceAccountRef` alone included), the GCE login: the
/// metadata server's identity token for `<server>/vault/<role>`, i.e. the controller's own identity,
/// so only a ClusterSecretStore may use it while `--refuse-secretstore-controller-identity` is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultGcpAuth {
    /// Path where the GCP auth method is enabled in Vault, e.g: "gcp".
    #[serde(default = "gcp")]
    pub path: String,
    /// Vault Role. In Vault, a role describes an identity with a set of permissions, groups, or
    /// policies you want to attach to a user of the secrets engine.
    pub role: String,
    /// Project ID of the Google Cloud Platform project.
    #[serde(default, rename = "projectID", skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Location optionally defines a location/region for the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Specify credentials in a Secret object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<GcpSecretRef>,
    /// Specify a service account with Workload Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<GcpWorkloadIdentity>,
    /// ServiceAccountRef to a service account for impersonation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
}
