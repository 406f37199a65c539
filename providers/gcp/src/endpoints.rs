//! Where the provider sends its requests. Production uses Google's hosts; tests point every one
//! of them at a fake, and nothing else changes.

/// Overrides `SecretManager` requests (global and regional): `http://127.0.0.1:PORT` in tests.
pub const SECRETMANAGER_ENDPOINT_ENV: &str = "SESAME_GCP_SECRETMANAGER_ENDPOINT";
/// Overrides the Security Token Service base URL (`{base}/v1/token`).
pub const STS_ENDPOINT_ENV: &str = "SESAME_GCP_STS_ENDPOINT";
/// Overrides the IAM Credentials base URL (`{base}/v1/projects/-/serviceAccounts/*:generateAccessToken`).
pub const IAMCREDENTIALS_ENDPOINT_ENV: &str = "SESAME_GCP_IAMCREDENTIALS_ENDPOINT";
/// Overrides the OAuth 2.0 token endpoint base URL (`{base}/token`), where a service-account key
/// is exchanged for an access token (GCRAccessToken).
pub const OAUTH2_ENDPOINT_ENV: &str = "SESAME_GCP_OAUTH2_ENDPOINT";

const STS_DEFAULT: &str = "https://sts.googleapis.com";
const IAMCREDENTIALS_DEFAULT: &str = "https://iamcredentials.googleapis.com";
const OAUTH2_DEFAULT: &str = "https://oauth2.googleapis.com";

/// The base URLs the provider talks to. `None` means Google's production host.
///
/// [`crate::build`] reads them from the environment ([`Endpoints::from_env`]):
/// `SESAME_GCP_SECRETMANAGER_ENDPOINT`, `SESAME_GCP_STS_ENDPOINT` and
/// `SESAME_GCP_IAMCREDENTIALS_ENDPOINT`; `SESAME_GCP_OAUTH2_ENDPOINT` for the token endpoint a
/// GCRAccessToken exchanges a key at (a store's key path needs none: the SDK signs its own JWT
/// access tokens, and a key's own `token_uri` is never followed). Application default
/// credentials honour the SDK's own variables (`GOOGLE_APPLICATION_CREDENTIALS`,
/// `GCE_METADATA_HOST`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub secret_manager: Option<String>,
    pub sts: Option<String>,
    pub iam_credentials: Option<String>,
    pub oauth2: Option<String>,
}

impl Endpoints {
    /// Production hosts, unless the `SESAME_GCP_*_ENDPOINT` variables say otherwise.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Endpoints {
            secret_manager: var(SECRETMANAGER_ENDPOINT_ENV),
            sts: var(STS_ENDPOINT_ENV),
            iam_credentials: var(IAMCREDENTIALS_ENDPOINT_ENV),
            oauth2: var(OAUTH2_ENDPOINT_ENV),
        }
    }

    /// Every service at one base URL: how the tests point the provider at the fake.
    pub fn all_at(base: impl Into<String>) -> Self {
        let base = base.into();
        Endpoints { secret_manager: Some(base.clone()), sts: Some(base.clone()), iam_credentials: Some(base.clone()), oauth2: Some(base) }
    }

    /// The Secret Manager endpoint for a store: the override, else the regional endpoint when the
    /// store has a location, else `None` (the SDK's global default).
    pub(crate) fn secret_manager_for(&self, location: Option<&str>) -> Option<String> {
        if let Some(url) = &self.secret_manager {
            return Some(trim(url));
        }
        location.map(|l| format!("https://secretmanager.{l}.rep.googleapis.com"))
    }

    pub(crate) fn sts_token_url(&self) -> String {
        format!("{}/v1/token", self.sts.as_deref().map(trim).unwrap_or_else(|| STS_DEFAULT.into()))
    }

    pub(crate) fn oauth2_token_url(&self) -> String {
        format!("{}/token", self.oauth2.as_deref().map(trim).unwrap_or_else(|| OAUTH2_DEFAULT.into()))
    }

    pub(crate) fn generate_access_token_url(&self, service_account: &str) -> String {
        let base = self.iam_credentials.as_deref().map(trim).unwrap_or_else(|| IAMCREDENTIALS_DEFAULT.into());
        format!("{base}/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken")
    }
}

impl Endpoints {
    /// IAM Credentials `signJwt` of a service account.
    pub fn sign_jwt_url(&self, service_account: &str) -> String {
        let base = self.iam_credentials.as_deref().map(trim).unwrap_or_else(|| IAMCREDENTIALS_DEFAULT.into());
        format!("{base}/v1/projects/-/serviceAccounts/{service_account}:signJwt")
    }
}

fn trim(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_hosts_by_default_and_regional_secret_manager_for_a_location() {
        let e = Endpoints::default();
        assert_eq!(e.secret_manager_for(None), None);
        assert_eq!(e.secret_manager_for(Some("europe-west1")).as_deref(), Some("https://secretmanager.europe-west1.rep.googleapis.com"));
        assert_eq!(e.sts_token_url(), "https://sts.googleapis.com/v1/token");
        assert_eq!(e.oauth2_token_url(), "https://oauth2.googleapis.com/token");
        assert_eq!(
            e.generate_access_token_url("gsa@p.iam.gserviceaccount.com"),
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/gsa@p.iam.gserviceaccount.com:generateAccessToken"
        );
    }

    #[test]
    fn an_override_replaces_every_host_of_its_service() {
        let e = Endpoints::all_at("http://127.0.0.1:9/");
        assert_eq!(e.secret_manager_for(Some("europe-west1")).as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(e.sts_token_url(), "http://127.0.0.1:9/v1/token");
        assert_eq!(e.oauth2_token_url(), "http://127.0.0.1:9/token");
    }
}
