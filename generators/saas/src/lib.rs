//! ESO's SaaS token generators, one module per kind:
//!
//! - `GithubAccessToken`: a GitHub App installation token (an RS256 JWT signed with the app's key,
//!   exchanged at `POST /app/installations/{id}/access_tokens`);
//! - `GitlabDeployToken`: a project or group deploy token, revoked on cleanup;
//! - `QuayAccessToken`: a robot-account token from Quay's OIDC federation, for a Kubernetes
//!   ServiceAccount token;
//! - `Grafana`: a service-account token (the service account created when missing), deleted on
//!   cleanup;
//! - `CloudsmithAccessToken`: a Cloudsmith API token from its OIDC exchange.
//!
//! Every secret ref and ServiceAccount resolves in the namespace of the object that uses the
//! generator (ESO ignores a `namespace` in them), through the
//! [`CredentialSource`](sesame_provider_core::CredentialSource). URLs are held to the store URL
//! rules before any credential is read, and every answer is read with a size cap.
#![forbid(unsafe_code)]

mod cloudsmith;
mod github;
mod gitlab;
mod grafana;
mod http;
mod jwt;
mod quay;

pub use cloudsmith::{CloudsmithAccessToken, CloudsmithAccessTokenSpec};
pub use github::{GithubAccessToken, GithubAccessTokenSpec, GithubAuth, GithubSecretRef};
pub use gitlab::{GitlabDeployToken, GitlabDeployTokenAuth, GitlabDeployTokenScope, GitlabDeployTokenSecretRef, GitlabDeployTokenSpec};
pub use grafana::{Grafana, GrafanaAuth, GrafanaBasicAuth, GrafanaSecretKeySelector, GrafanaServiceAccount, GrafanaSpec};
pub use quay::{QuayAccessToken, QuayAccessTokenSpec};
