//! AWS as the identity provider of a workload identity pool: the subject token is an
//! sts:GetCallerIdentity request signed with the store's AWS keys (SigV4), which Google STS replays
//! to AWS. Its shape is Google's (the external-account AWS source): the URL-encoded JSON
//! `{"url","method","headers":[{"key","value"}…]}`, with `x-goog-cloud-target-resource` (the
//! audience) among the signed headers.
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use sesame_provider_core::{ProviderContext, ProviderError, checks};

use crate::GcpSecretReference;
use crate::federation::aws_key;

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";
const TARGET_RESOURCE: &str = "x-goog-cloud-target-resource";

/// Keys read from `awsCredentialsSecretRef`; never printed.
#[derive(Clone)]
pub(crate) struct AwsKeys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl AwsKeys {
    #[cfg(test)]
    pub(crate) fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        AwsKeys {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.map(str::to_string),
        }
    }
}

/// The region becomes the STS host name.
pub(crate) fn check_region(region: &str) -> Result<(), ProviderError> {
    checks::host_label("auth.workloadIdentityFederation.awsSecurityCredentials.region", region)
}

/// `aws_access_key_id` and `aws_secret_access_key` (required) and `aws_session_token` of the Secret.
pub(crate) async fn read_keys(secret: &GcpSecretReference, ctx: &ProviderContext) -> Result<AwsKeys, ProviderError> {
    let ns = secret.namespace.as_deref();
    let read = |key: &'static str| {
        let selector = aws_key(&secret.name, ns, key);
        async move { ctx.credentials.secret_key(&selector, None).await }
    };
    let missing = || {
        ProviderError::Auth(format!(
            "{ACCESS_KEY_ID} and {SECRET_ACCESS_KEY} keys must be present in the awsSecurityCredentials secret {}",
            secret.name
        ))
    };
    let id = read(ACCESS_KEY_ID).await.map_err(|_| missing())?;
    let key = read(SECRET_ACCESS_KEY).await.map_err(|_| missing())?;
    let token = read(SESSION_TOKEN).await.ok();
    let text = |v: &sesame_provider_core::SecretValue| String::from_utf8_lossy(v.as_bytes()).trim().to_string();
    let keys = AwsKeys {
        access_key_id: text(&id),
        secret_access_key: text(&key),
        session_token: token.as_ref().map(text).filter(|t| !t.is_empty()),
    };
    if keys.access_key_id.is_empty() || keys.secret_access_key.is_empty() {
        return Err(missing());
    }
    Ok(keys)
}

/// The GetCallerIdentity URL Google's AWS source signs for a region.
pub(crate) fn caller_identity_url(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15")
}

/// The subject token: the signed request, as Google STS expects it.
pub(crate) fn subject_token(region: &str, keys: &AwsKeys, audience: &str, now: SystemTime) -> Result<String, ProviderError> {
    let url = caller_identity_url(region);
    let host = format!("sts.{region}.amazonaws.com");
    let fail = |e: &dyn std::fmt::Display| ProviderError::Invalid(format!("cannot sign the AWS GetCallerIdentity request: {e}"));
    let identity: Identity =
        Credentials::new(&keys.access_key_id, &keys.secret_access_key, keys.session_token.clone(), None, "awsSecurityCredentials").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let signed_headers = [("host", host.as_str()), (TARGET_RESOURCE, audience)];
    let signable =
        SignableRequest::new("POST", url.as_str(), signed_headers.into_iter(), SignableBody::Bytes(b"")).map_err(|e| fail(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    // Go's http.Header canonical names, sorted by name as Google's reference client sends them.
    let mut headers: Vec<(String, String)> =
        vec![("Host".into(), host.clone()), ("X-Goog-Cloud-Target-Resource".into(), audience.to_string())];
    for (name, value) in instructions.headers() {
        headers.push((canonical(name), value.to_string()));
    }
    headers.sort();
    let request = serde_json::json!({
        "url": url,
        "method": "POST",
        "headers": headers.into_iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    Ok(query_escape(&request.to_string()))
}

/// `x-amz-date` → `X-Amz-Date`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, everything else `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_token_is_a_url_encoded_signed_get_caller_identity_naming_the_audience() {
        let keys = AwsKeys::new("AKIDEXAMPLE", "wJalrXUtnFEMI", Some("session"));
        let aud = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";
        let token = subject_token("eu-west-3", &keys, aud, SystemTime::UNIX_EPOCH).unwrap();
        assert!(!token.contains('{') && !token.contains(' '), "URL-encoded: {token}");
        let decoded = percent_decode(&token);
        let v: serde_json::Value = serde_json::from_str(&decoded).unwrap();
        assert_eq!(v["url"], "https://sts.eu-west-3.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(v["method"], "POST");
        let headers: Vec<(String, String)> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["key"].as_str().unwrap().to_string(), h["value"].as_str().unwrap().to_string()))
            .collect();
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["Authorization", "Host", "X-Amz-Date", "X-Amz-Security-Token", "X-Goog-Cloud-Target-Resource"]);
        let auth = &headers[0].1;
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/eu-west-3/sts/aws4_request"), "{auth}");
        assert!(auth.contains("x-goog-cloud-target-resource"), "the audience header is signed: {auth}");
        assert_eq!(headers[4].1, aud);
        assert!(!decoded.contains("wJalrXUtnFEMI"), "the secret key never leaves the signer");
        assert!(check_region("eu-west-3").is_ok() && check_region("evil.example/x").is_err());
    }

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}
