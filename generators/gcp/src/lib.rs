//! ESO's `GCRAccessToken` generator: an OAuth 2.0 access token for Google Container Registry /
//! Artifact Registry logins (`username: oauth2accesstoken`, `password: <token>`, `expiry` in Unix
//! seconds), for the identity a GCP Secret Manager store would use.
//!
//! Authentication is the store's own code ([`sesame_provider_gcp::access_token`]): a
//! service-account key in `auth.secretRef` (exchanged at Google's token endpoint) or GKE
//! `auth.workloadIdentity`. Endpoints follow the store's overrides (`SESAME_GCP_OAUTH2_ENDPOINT`,
//! `SESAME_GCP_STS_ENDPOINT`, `SESAME_GCP_IAMCREDENTIALS_ENDPOINT`).
#![forbid(unsafe_code)]

mod gcr;

pub use gcr::{GcrAccessToken, GcrAccessTokenSpec};
pub use sesame_provider_gcp::{GcpAuth, GcpSecretRef, GcpWorkloadIdentity, GcpWorkloadIdentityFederation};
