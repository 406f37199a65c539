//! GCP IAM Auth (`gcpIamAuthCredentials`) as Infisical's SDK does it: the service-account key
//! signs (RS256) an OAuth assertion that Google's token endpoint exchanges for an access token;
//! with it, IAM Credentials `signJwt` signs `{"sub": <client_email>, "aud": <identityId>}` as
//! that service account, and the signed JWT goes to `POST /api/v1/auth/gcp-auth/login`.
//!
//! The key is the Secret value itself (the key JSON, a Sesame addition) or, as in ESO, the path
//! of a key file on the controller's disk. A tenant-chosen path is hostile: it is read only under
//! the directory the operator allows with `--infisical-gcp-key-dir`, after resolving symlinks, and
//! only a small JSON key is taken from it; errors never show the file's content.
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use sesame_provider_core::ProviderError;
use sesame_provider_http::{ClientOptions, reqwest, send};
use tokio::io::AsyncReadExt;

use crate::ambient::Ambient;
use crate::keys::RsaKey;

/// A service-account key file is about 2.4 KiB.
const MAX_KEY: u64 = 64 * 1024;
/// The scope the SDK's IAM Credentials client asks for.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The flag that names the directory key files may be read from.
pub const KEY_DIR_FLAG: &str = "--infisical-gcp-key-dir";

static KEY_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Allow `serviceAccountKeyFilePath` to name files under `dir` (the controller's
/// `--infisical-gcp-key-dir`; `None` allows none); set once at start-up.
pub fn allow_gcp_key_dir(dir: Option<PathBuf>) {
    if let Some(dir) = dir {
        let _ = KEY_DIR.set(dir);
    }
}

pub(crate) fn allowed_key_dir() -> Option<PathBuf> {
    KEY_DIR.get().cloned()
}

/// Where the service-account key comes from.
#[derive(Clone)]
pub(crate) enum KeySource {
    /// The key JSON, from the Secret.
    Inline(String),
    /// A key file of the controller, read at every login (a mounted Secret may rotate).
    File(String),
}

/// The parts of a service-account key JSON GCP IAM Auth uses.
#[derive(Deserialize)]
struct KeyJson {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
}

/// `serviceAccountKeyFilePath`'s value: key JSON when it is a JSON object, else a file path.
pub(crate) fn key_source(value: &str) -> Result<KeySource, ProviderError> {
    let value = value.trim();
    if value.starts_with('{') {
        return Ok(KeySource::Inline(value.to_string()));
    }
    let bad = value.is_empty() || !value.starts_with('/') || value.len() > 4096 || value.chars().any(char::is_control);
    if bad || Path::new(value).components().any(|c| c == Component::ParentDir) {
        return Err(ProviderError::Invalid(
            "gcpIamAuthCredentials.serviceAccountKeyFilePath must be a service account key JSON or an absolute path without `..`".into(),
        ));
    }
    Ok(KeySource::File(value.to_string()))
}

/// The real path of `path` when it is under `dir`, symlinks resolved.
pub(crate) fn allowed_path(dir: Option<&Path>, path: &str) -> Result<PathBuf, ProviderError> {
    let Some(dir) = dir else {
        return Err(ProviderError::Invalid(format!(
            "gcpIamAuthCredentials.serviceAccountKeyFilePath names a file of the controller, which is refused: the operator \
             has not allowed a directory for key files ({KEY_DIR_FLAG}); put the key JSON itself in the Secret instead"
        )));
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| ProviderError::Invalid(format!("{KEY_DIR_FLAG} {}: {}", dir.display(), e.kind())))?;
    let real = std::fs::canonicalize(path)
        .map_err(|e| ProviderError::Auth(format!("cannot read the service account key file {path}: {}", e.kind())))?;
    if !real.starts_with(&dir) {
        return Err(ProviderError::Invalid(format!(
            "the service account key file {path} is not under the directory {KEY_DIR_FLAG} allows"
        )));
    }
    Ok(real)
}

async fn read_key_file(dir: Option<&Path>, path: &str) -> Result<String, ProviderError> {
    let real = allowed_path(dir, path)?;
    let cannot = |e: std::io::Error| ProviderError::Auth(format!("cannot read the service account key file {path}: {}", e.kind()));
    let file = tokio::fs::File::open(&real).await.map_err(cannot)?;
    if !file.metadata().await.map_err(cannot)?.is_file() {
        return Err(ProviderError::Invalid(format!("the service account key file {path} is not a file")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY + 1).read_to_end(&mut bytes).await.map_err(cannot)?;
    if bytes.len() as u64 > MAX_KEY {
        return Err(ProviderError::Invalid(format!("the service account key file {path} is larger than 64 KiB")));
    }
    String::from_utf8(bytes).map_err(|_| ProviderError::Invalid(format!("the service account key file {path} is not a key JSON")))
}

fn parse_key(json: &str, what: &str) -> Result<(KeyJson, RsaKey), ProviderError> {
    let not_key = || ProviderError::Invalid(format!("{what} is not a service account key JSON (client_email, private_key)"));
    if json.len() as u64 > MAX_KEY {
        return Err(not_key());
    }
    let key: KeyJson = serde_json::from_str(json).map_err(|_| not_key())?;
    let email_ok = key.client_email.contains('@')
        && key.client_email.len() <= 256
        && key.client_email.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'));
    if !email_ok {
        return Err(ProviderError::Invalid(format!("{what}: client_email is not a service account e-mail")));
    }
    let rsa = RsaKey::from_pem(&key.private_key, None, &format!("{what} private_key"))?;
    Ok((key, rsa))
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedJwt {
    signed_jwt: String,
}

/// Google's error text: `error_description` of the token endpoint, `error.message` of IAM.
fn google_said(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = v["error_description"].as_str().or(v["error"]["message"].as_str()).or(v["error"].as_str()).unwrap_or("");
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

async fn google(request: reqwest::RequestBuilder, what: &str) -> Result<Vec<u8>, ProviderError> {
    let answer = send("Google", what, request, MAX_KEY as usize).await?;
    if !(200..300).contains(&answer.status) {
        let msg = format!("{what}: HTTP {} {}", answer.status, google_said(&answer.body));
        // A refused key or a missing permission is a credentials problem.
        return Err(match answer.status {
            500.. => ProviderError::Transient(msg),
            429 => ProviderError::Throttled { message: msg, retry_after: answer.retry_after() },
            _ => ProviderError::Auth(msg),
        });
    }
    Ok(answer.body)
}

fn client(url: &reqwest::Url) -> Result<reqwest::Client, ProviderError> {
    ClientOptions::for_url(url).build("Google")
}

fn url(text: &str) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse(text).map_err(|e| ProviderError::Invalid(format!("GCP endpoint {text:?}: {e}")))
}

/// The JWT Infisical's gcp-auth login takes for `identity_id`, signed by Google as the key's
/// service account.
pub(crate) async fn signed_jwt(source: &KeySource, identity_id: &str, ambient: &Ambient) -> Result<String, ProviderError> {
    let (json, what) = match source {
        KeySource::Inline(json) => (json.clone(), "gcpIamAuthCredentials.serviceAccountKeyFilePath".to_string()),
        KeySource::File(path) => {
            (read_key_file(ambient.gcp_key_dir.as_deref(), path).await?, format!("the service account key file {path}"))
        }
    };
    let (key, rsa) = parse_key(&json, &what)?;
    let email = &key.client_email;

    let token_url = url(&format!("{}/token", ambient.gcp_oauth2))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = json!({"iss": email, "scope": SCOPE, "aud": token_url.as_str(), "iat": now, "exp": now + 3600});
    let assertion = rsa.jwt(&claims, Some(&key.private_key_id))?;
    let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
    let what = format!("POST {token_url} (access token for {email})");
    let request = client(&token_url)?.post(token_url).header("content-type", "application/x-www-form-urlencoded").body(form);
    let token: AccessToken = serde_json::from_slice(&google(request, &what).await?)
        .map_err(|_| ProviderError::Auth(format!("{what}: the answer holds no access_token")))?;

    let sign_url = url(&format!("{}/v1/projects/-/serviceAccounts/{email}:signJwt", ambient.gcp_iam_credentials))?;
    let what = format!("IAM Credentials signJwt for {email}");
    // The claims the SDK has Google sign: Infisical checks `aud` is the identity.
    let payload = json!({"sub": email, "aud": identity_id}).to_string();
    let request = client(&sign_url)?
        .post(sign_url)
        .bearer_auth(&token.access_token)
        .header("content-type", "application/json")
        .body(json!({"payload": payload}).to_string());
    let signed: SignedJwt = serde_json::from_slice(&google(request, &what).await?)
        .map_err(|_| ProviderError::Auth(format!("{what}: the answer holds no signedJwt")))?;
    if signed.signed_jwt.is_empty() {
        return Err(ProviderError::Auth(format!("{what}: the answer holds no signedJwt")));
    }
    Ok(signed.signed_jwt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_key_json_or_an_absolute_path_without_parent_steps() {
        assert!(matches!(key_source(" {\"client_email\": \"x\"}\n").unwrap(), KeySource::Inline(_)));
        assert!(matches!(key_source("/etc/sesame/gcp/key.json").unwrap(), KeySource::File(_)));
        for bad in ["key.json", "/etc/sesame/gcp/../../passwd", "", "/a\nb"] {
            assert!(key_source(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_path_outside_the_allowed_directory_is_refused_and_no_directory_names_the_flag() {
        let err = allowed_path(None, "/etc/passwd").unwrap_err().to_string();
        assert!(err.contains(KEY_DIR_FLAG) && err.contains("key JSON itself"), "{err}");
        let dir = std::env::temp_dir().join(format!("infisical-keydir-unit-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::write(dir.join("keys/key.json"), "{}").unwrap();
        std::fs::write(dir.join("outside.json"), "{}").unwrap();
        let keys = dir.join("keys");
        assert!(allowed_path(Some(&keys), keys.join("key.json").to_str().unwrap()).is_ok());
        let err = allowed_path(Some(&keys), dir.join("outside.json").to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is not under the directory"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
