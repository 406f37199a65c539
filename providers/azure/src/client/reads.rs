//! One read per object type: the REST call (recorded), the attribute checks, and what is returned.
use azure_security_keyvault_certificates::models::CertificateClientGetCertificateOptions;
use azure_security_keyvault_keys::models::KeyClientGetKeyOptions;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use sesame_provider_core::{ProviderError, SecretValue};

use super::objects::{self, Kind, Times};
use super::{AzureKvClient, PROVIDER, map_error};

/// The attribute times of any Key Vault object model (each SDK has its own attributes type).
macro_rules! times_of {
    ($attributes:expr) => {
        $attributes
            .as_ref()
            .map(|a| Times { enabled: a.enabled, expires: a.expires, not_before: a.not_before, created: a.created, updated: a.updated })
            .unwrap_or_default()
    };
}

/// The common tail of every read: refuse an unusable object; with `metadataPolicy: Fetch`, its
/// tags and times instead of its value.
fn usable_or_metadata(
    kind: Kind,
    name: &str,
    times: &Times,
    tags: Option<&std::collections::HashMap<String, String>>,
    fetch: bool,
) -> Result<Option<SecretValue>, ProviderError> {
    objects::check_usable(kind, name, times)?;
    Ok(fetch.then(|| SecretValue::from(objects::metadata_json(tags, times))))
}

impl AzureKvClient {
    pub(super) async fn read_secret(&self, name: &str, version: Option<String>, fetch: bool) -> Result<SecretValue, ProviderError> {
        let what = format!("secret {name}");
        let secret = self
            .ctx
            .timed(PROVIDER, "GetSecret", async {
                let options = SecretClientGetSecretOptions { secret_version: version, ..Default::default() };
                let rsp = self.secrets.get_secret(name, Some(options)).await.map_err(|e| map_error("GetSecret", &what, e))?;
                rsp.into_model().map_err(|e| map_error("GetSecret", &what, e))
            })
            .await?;
        let times = times_of!(secret.attributes);
        if let Some(metadata) = usable_or_metadata(Kind::Secret, name, &times, secret.tags.as_ref(), fetch)? {
            return Ok(metadata);
        }
        Ok(SecretValue::from(secret.value.unwrap_or_default()))
    }

    pub(super) async fn read_key(&self, name: &str, version: Option<String>, fetch: bool) -> Result<SecretValue, ProviderError> {
        let what = format!("key {name}");
        let key = self
            .ctx
            .timed(PROVIDER, "GetKey", async {
                let options = KeyClientGetKeyOptions { key_version: version, ..Default::default() };
                let rsp = self.keys.get_key(name, Some(options)).await.map_err(|e| map_error("GetKey", &what, e))?;
                rsp.into_model().map_err(|e| map_error("GetKey", &what, e))
            })
            .await?;
        let times = times_of!(key.attributes);
        if let Some(metadata) = usable_or_metadata(Kind::Key, name, &times, key.tags.as_ref(), fetch)? {
            return Ok(metadata);
        }
        let jwk = key.key.ok_or_else(|| ProviderError::Invalid(format!("key {name} has no key material")))?;
        let json = serde_json::to_vec(&jwk).map_err(|e| ProviderError::Invalid(format!("key {name}: {e}")))?;
        Ok(SecretValue::from(json))
    }

    pub(super) async fn read_cert(&self, name: &str, version: Option<String>, fetch: bool) -> Result<SecretValue, ProviderError> {
        let what = format!("certificate {name}");
        let cert = self
            .ctx
            .timed(PROVIDER, "GetCertificate", async {
                let options = CertificateClientGetCertificateOptions { certificate_version: version, ..Default::default() };
                let rsp = self.certs.get_certificate(name, Some(options)).await.map_err(|e| map_error("GetCertificate", &what, e))?;
                rsp.into_model().map_err(|e| map_error("GetCertificate", &what, e))
            })
            .await?;
        let times = times_of!(cert.attributes);
        if let Some(metadata) = usable_or_metadata(Kind::Cert, name, &times, cert.tags.as_ref(), fetch)? {
            return Ok(metadata);
        }
        let der = cert.cer.ok_or_else(|| ProviderError::Invalid(format!("certificate {name} has no content (cer)")))?;
        Ok(SecretValue::from(der))
    }
}
