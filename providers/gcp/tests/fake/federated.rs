//! STS token exchange for workload identity pool providers (workload identity federation), as
//! Google documents it: the audience names a pool provider
//! (`//iam.googleapis.com/projects/{n}/locations/global/workloadIdentityPools/{pool}/providers/{p}`);
//! an OIDC provider checks the subject JWT's issuer, signature and audience (by default the
//! provider's `https:` resource URL); an AWS provider replays the signed GetCallerIdentity
//! request, which this fake does by checking its SigV4 signature with the keys it knows. The
//! federated principal is `principal://iam.googleapis.com/projects/{n}/locations/global/workloadIdentityPools/{pool}/subject/{subject}`.
use std::collections::BTreeMap;

use aws_lc_rs::{digest, hmac};
use serde_json::Value;

use super::Verifier;
use super::jwt::Jwt;

pub const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A workload identity pool provider.
pub struct PoolProvider {
    /// The STS audience: `//iam.googleapis.com/projects/{n}/…/providers/{p}`.
    pub audience: String,
    pub kind: PoolProviderKind,
}

pub enum PoolProviderKind {
    Oidc {
        issuer: String,
        verifier: Verifier,
        allowed_audiences: Vec<String>,
    },
    /// access key id → (secret access key, the caller's ARN).
    Aws {
        keys: BTreeMap<String, (String, String)>,
    },
}

impl PoolProvider {
    /// `principal://iam.googleapis.com/projects/{n}/locations/global/workloadIdentityPools/{pool}/subject/{subject}`
    pub fn principal(&self, subject: &str) -> String {
        let pool = self.audience.trim_start_matches("//iam.googleapis.com/");
        let pool = pool.split("/providers/").next().unwrap_or(pool);
        format!("principal://iam.googleapis.com/{pool}/subject/{subject}")
    }

    /// The subject the token proves, or why it proves none.
    pub fn verify(&self, token: &str, token_type: &str) -> Result<String, &'static str> {
        match &self.kind {
            PoolProviderKind::Oidc { issuer, verifier, allowed_audiences } => {
                if token_type != super::tokens::JWT_TOKEN_TYPE && token_type != ID_TOKEN_TYPE {
                    return Err("Invalid value for \"subject_token_type\".");
                }
                let jwt = Jwt::parse(token).ok_or("The subject token is not a JWT.")?;
                let signed = match verifier {
                    Verifier::Key(key) => jwt.verify(&key.public_der),
                    Verifier::Jwks(jwks) => jwt.verify_jwks(jwks),
                };
                if !signed {
                    return Err("The subject token signature is invalid.");
                }
                let default_audience = format!("https:{}", self.audience);
                let aimed = jwt.audiences().iter().any(|a| *a == default_audience || allowed_audiences.contains(a));
                if jwt.claims["iss"] != issuer.as_str() || !aimed || !jwt.is_current() {
                    return Err("The audience in ID Token does not match the expected audience, or the issuer or expiry is wrong.");
                }
                jwt.claims["sub"].as_str().map(str::to_string).ok_or("The subject token has no sub.")
            }
            PoolProviderKind::Aws { keys } => {
                if token_type != AWS_TOKEN_TYPE {
                    return Err("Invalid value for \"subject_token_type\".");
                }
                verify_aws(token, &self.audience, keys)
            }
        }
    }
}

/// The replayed GetCallerIdentity: Google's JSON shape, the audience header, a valid signature.
fn verify_aws(token: &str, audience: &str, keys: &BTreeMap<String, (String, String)>) -> Result<String, &'static str> {
    let bad = "The AWS request in the subject token is invalid.";
    let doc: Value = serde_json::from_str(&super::wire::decode(token).ok_or(bad)?).map_err(|_| bad)?;
    let url = doc["url"].as_str().ok_or(bad)?;
    let (host, query) = url.strip_prefix("https://").and_then(|u| u.split_once('?')).ok_or(bad)?;
    let region = host.strip_prefix("sts.").and_then(|h| h.strip_suffix(".amazonaws.com")).ok_or(bad)?;
    if doc["method"] != "POST" || query != "Action=GetCallerIdentity&Version=2011-06-15" {
        return Err(bad);
    }
    let headers: BTreeMap<String, String> = doc["headers"]
        .as_array()
        .ok_or(bad)?
        .iter()
        .filter_map(|h| Some((h["key"].as_str()?.to_ascii_lowercase(), h["value"].as_str()?.to_string())))
        .collect();
    if headers.get("x-goog-cloud-target-resource").map(String::as_str) != Some(audience)
        || headers.get("host").map(String::as_str) != Some(host)
    {
        return Err("The x-goog-cloud-target-resource header does not name this provider.");
    }
    let auth = headers.get("authorization").ok_or(bad)?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=").ok_or(bad)?;
    let mut parts = rest.split(", ");
    let scope = parts.next().ok_or(bad)?;
    let signed = parts.next().and_then(|p| p.strip_prefix("SignedHeaders=")).ok_or(bad)?;
    let signature = parts.next().and_then(|p| p.strip_prefix("Signature=")).ok_or(bad)?;
    let mut scope_parts = scope.splitn(2, '/');
    let (akid, scope) = (scope_parts.next().ok_or(bad)?, scope_parts.next().ok_or(bad)?);
    let (secret, arn) = keys.get(akid).ok_or("AWS: The security token included in the request is invalid.")?;
    if scope.split('/').nth(1) != Some(region) || !signed.split(';').any(|h| h == "x-goog-cloud-target-resource") {
        return Err(bad);
    }
    let amz_date = headers.get("x-amz-date").ok_or(bad)?;
    let canonical_headers: String =
        signed.split(';').map(|h| headers.get(h).map(|v| format!("{h}:{}\n", v.trim()))).collect::<Option<String>>().ok_or(bad)?;
    let empty = hex(digest::digest(&digest::SHA256, b"").as_ref());
    let canonical = format!("POST\n/\n{query}\n{canonical_headers}\n{signed}\n{empty}");
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref()));
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes()).as_ref().to_vec();
    }
    let expected = hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), to_sign.as_bytes()).as_ref());
    if expected != signature {
        return Err("AWS: The request signature we calculated does not match the signature you provided.");
    }
    Ok(arn.clone())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
