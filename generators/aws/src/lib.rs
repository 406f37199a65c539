//! ESO's AWS generators: `ECRAuthorizationToken` (a registry login for ECR or ECR Public) and
//! `STSSessionToken` (temporary credentials from sts:GetSessionToken).
//!
//! Both authenticate exactly as an AWS SecretStore does (`auth.secretRef`, `auth.jwt`, the SDK
//! default chain, then `role` assumed): the session comes from `sesame_provider_aws::sdk_config`,
//! not from a copy of it. Endpoints follow the SDK (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_ECR`,
//! `AWS_ENDPOINT_URL_ECR_PUBLIC`, `AWS_ENDPOINT_URL_STS`) or [`ClientOptions::endpoint_url`].
#![forbid(unsafe_code)]

mod ecr;
mod session;
mod sts;

pub use ecr::{EcrAuthorizationToken, EcrAuthorizationTokenSpec, EcrScope};
pub use sesame_provider_aws::{AwsAuth, AwsAuthSecretRef, AwsJwtAuth, ClientOptions};
pub use sts::{StsRequestParameters, StsSessionToken, StsSessionTokenSpec};
