//! Vault's gcp auth method, `iam` flavour, as ESO logs in with a service-account key or workload
//! identity: a JWT `{"aud": "vault/<role>", "sub": <service account>, "exp": …}` is signed by
//! Google (IAM Credentials `signJwt`, authenticated as the GCP store would be) and posted to
//! `auth/<path>/login` with the role. Vault then checks the signature with the service account's
//! Google-managed public key.
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

/// The body of `POST auth/<path>/login`.
pub(crate) async fn login_body(gcp: &VaultGcpAuth, ctx: &ProviderContext) -> Result<Value, ProviderError> {
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
