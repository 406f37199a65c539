//! `authSecretRef.clientCertificate` without OpenSSL: the service principal proves itself with a
//! JWT signed by the certificate's RSA key (RFC 7523 client assertion, Entra ID's "certificate
//! credential" format), handed to the SDK's `ClientAssertionCredential`. The signing is done with
//! aws-lc-rs, the crypto provider already in the graph.
use async_trait::async_trait;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::rand::{SystemRandom, fill};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use azure_core::cloud::CloudConfiguration;
use azure_core::http::{ClientMethodOptions, Url};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sesame_provider_core::ProviderError;

/// How long one assertion is valid (Entra ID accepts up to 10 minutes; the SDK uses 5).
const ASSERTION_LIFETIME: i64 = 300;

/// Signs a fresh assertion each time the credential needs a new Entra ID token.
pub(crate) struct CertificateAssertion {
    client_id: String,
    /// The token endpoint: the assertion's audience.
    audience: String,
    /// base64url SHA-1 of the certificate's DER: tells Entra ID which certificate signed.
    thumbprint: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// `pem` holds the certificate and its private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY`), as ESO reads `clientCertificate`.
    pub(crate) fn new(pem: &[u8], tenant: &str, client_id: String, cloud: &CloudConfiguration) -> Result<Self, ProviderError> {
        let invalid = |what: &str| ProviderError::Invalid(format!("authSecretRef.clientCertificate: {what}"));
        let cert = CertificateDer::pem_slice_iter(pem)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| invalid("no PEM CERTIFICATE found (PKCS#12 is not supported)"))?;
        let key = match PrivateKeyDer::from_pem_slice(pem).map_err(|_| invalid("no PEM private key found"))? {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(invalid("the private key must be RSA (Entra ID certificate credentials are RSA)"));
            }
        }
        .map_err(|e| invalid(&format!("unusable RSA private key: {e}")))?;
        let thumbprint = URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref()));
        let audience = token_endpoint(cloud, tenant)?;
        Ok(CertificateAssertion { client_id, audience, thumbprint, key })
    }

    fn sign(&self) -> Result<String, String> {
        let now = azure_core::time::OffsetDateTime::now_utc().unix_timestamp();
        let mut jti = [0u8; 16];
        fill(&mut jti).map_err(|_| "no randomness".to_string())?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
            .map_err(|_| "signing the client assertion failed".to_string())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.sign().map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e))
    }
}

/// The token endpoint `ClientAssertionCredential` posts to, computed the same way.
fn token_endpoint(cloud: &CloudConfiguration, tenant: &str) -> Result<String, ProviderError> {
    let host = match cloud {
        CloudConfiguration::AzureGovernment => "https://login.microsoftonline.us",
        CloudConfiguration::AzureChina => "https://login.chinacloudapi.cn",
        CloudConfiguration::Custom(custom) => custom.authority_host.as_str(),
        _ => "https://login.microsoftonline.com",
    };
    let url = Url::parse(host)
        .and_then(|u| u.join(&format!("/{tenant}/oauth2/v2.0/token")))
        .map_err(|e| ProviderError::Invalid(format!("invalid authority host {host}: {e}")))?;
    Ok(url.to_string())
}
