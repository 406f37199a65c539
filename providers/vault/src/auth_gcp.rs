//! Vault's gcp auth method, `iam` flavour, as ESO logs in with a service-account key or workload
//! identity: a JWT `{"aud": "vault/<role>", "sub": <service account>, "exp": …}` is signed by
//! Google (IAM Credentials `signJwt`, authenticated as the GCP store would be) and posted to
//! `auth/<path>/login` with the role. Vault then checks the signature with the service account's
//! Google-managed public key. With neither `secretRef` nor `workloadIdentity` (ESO's GCE login,
//! `serviceAccountRef` included), the metadata server of the controller's own instance issues an
//! identity token for `<vault address>/vault/<role>` instead, as Vault's Go client asks it: only a
//! ClusterSecretStore may do so while `--refuse-secretstore-controller-identity` is on.
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sesame_provider_core::{ProviderContext, ProviderError};
use sesame_provider_gcp::{Endpoints, GcpAuth, GcpProvider};

use crate::VaultGcpAuth;

/// Vault refuses a JWT that lives longer than its `max_jwt_exp` (15 minutes by default).
const JWT_SECONDS: u64 = 600;

/// The GCP store spec whose identity signs the JWT.
pub(crate) fn signer(gcp: &VaultGcpAuth) -> GcpProvider {
    let auth = GcpAuth {
        secret_ref: gcp.secret_ref.clone(),
        workload_identity: gcp.workload_identity.clone(),
        workload_identity_federation: None,
    };
    GcpProvider { auth: Some(auth), project_id: gcp.project_id.clone().filter(|p| !p.is_empty()), ..Default::default() }
}

/// The claims Vault's gcp method checks (`sub` is added by the signer).
pub(crate) fn claims(role: &str, now: u64) -> serde_json::Map<String, Value> {
    let mut claims = serde_json::Map::new();
    claims.insert("aud".into(), json!(format!("vault/{role}")));
    claims.insert("exp".into(), json!(now + JWT_SECONDS));
    claims
}

/// A GCE identity token is a JWT of a few kilobytes.
const MAX_TOKEN: usize = 16 * 1024;

/// ESO's GCE login: neither `secretRef` nor `workloadIdentity`.
pub(crate) fn is_gce(gcp: &VaultGcpAuth) -> bool {
    gcp.secret_ref.is_none() && gcp.workload_identity.is_none()
}

/// The metadata server: `GCE_METADATA_HOST` (host[:port], as Google's libraries read it) or GCE's.
fn metadata_origin() -> String {
    match std::env::var("GCE_METADATA_HOST").ok().map(|h| h.trim().trim_end_matches('/').to_string()).filter(|h| !h.is_empty()) {
        Some(host) => format!("http://{host}"),
        None => "http://metadata.google.internal".into(),
    }
}

/// `GET …/service-accounts/default/identity?audience=<vault>/vault/<role>&format=full`.
pub(crate) async fn gce_identity_token(metadata: &str, vault_address: &str, role: &str) -> Result<String, ProviderError> {
    use sesame_provider_http::{ClientOptions, reqwest, send};
    let what = "GET /computeMetadata/v1/instance/service-accounts/default/identity (GCE metadata server)";
    let text = format!("{metadata}/computeMetadata/v1/instance/service-accounts/default/identity");
    let mut url = reqwest::Url::parse(&text).map_err(|e| ProviderError::Invalid(format!("metadata endpoint {text:?}: {e}")))?;
    let audience = format!("{}/vault/{role}", vault_address.trim_end_matches('/'));
    url.query_pairs_mut().append_pair("audience", &audience).append_pair("format", "full");
    let request = ClientOptions::for_url(&url).build("the GCE metadata server")?.get(url).header("Metadata-Flavor", "Google");
    let answer = send("the GCE metadata server", what, request, MAX_TOKEN).await?.success(what, &["error"]).map_err(|e| match e {
        // The metadata server refuses an identity it does not have with a 4xx: an auth problem.
        ProviderError::Invalid(m) | ProviderError::NotFound(m) => ProviderError::Auth(m),
        other => other,
    })?;
    let token = String::from_utf8(answer.body).map_err(|_| ProviderError::Auth(format!("{what}: the answer is not a JWT")))?;
    let token = token.trim();
    if token.split('.').count() != 3 || token.is_empty() {
        return Err(ProviderError::Auth(format!("{what}: the answer is not a JWT")));
    }
    Ok(token.to_string())
}

/// The body of `POST auth/<path>/login`; `vault_address` is the audience of a GCE login.
pub(crate) async fn login_body(gcp: &VaultGcpAuth, ctx: &ProviderContext, vault_address: &str) -> Result<Value, ProviderError> {
    if is_gce(gcp) {
        let jwt = gce_identity_token(&metadata_origin(), vault_address, &gcp.role).await?;
        return Ok(json!({"role": gcp.role, "jwt": jwt}));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let signed = sesame_provider_gcp::sign_jwt(&signer(gcp), claims(&gcp.role, now), ctx, &Endpoints::from_env()).await?;
    Ok(json!({"role": gcp.role, "jwt": signed.jwt}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwt_names_the_vault_role_as_audience_and_lives_ten_minutes() {
        let c = claims("reader", 1_000);
        assert_eq!(c["aud"], "vault/reader");
        assert_eq!(c["exp"], 1_600);
        assert!(!c.contains_key("sub"), "the signer names itself");
    }
}
