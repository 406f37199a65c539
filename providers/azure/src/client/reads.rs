//! One read per object type: the REST call (recorded), the attribute checks, and what is returned.
use azure_security_keyvault_certificates::models::CertificateClientGetCertificateOptions;
use azure_security_keyvault_keys::models::KeyClientGetKeyOptions;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use sesame_provider_core::{ProviderError, SecretValue};

use super::objects::{self, Kind, Times};
use super::{AzureKvClient, PROVIDER, map_error};

impl AzureKvClient {
    pub(super) async fn read_secret(
        &self,
        name: &str,
        version: Option<String>,
        fetch: bool,
    ) -> Result<SecretValue, ProviderError> {
        let what = format!("secret {name}");
        let secret = self
            .ctx
            .timed(PROVIDER, "GetSecret", async {
                let options = SecretClientGetSecretOptions {
                    secret_version: version,
                    ..Default::default()
                };
                let rsp = self
                    .secrets
                    .get_secret(name, Some(options))
                    .await
                    .map_err(|e| map_error("GetSecret", &what, e))?;
                rsp.into_model()
                    .map_err(|e| map_error("GetSecret", &what, e))
            })
            .await?;
        let times = secret.attributes.as_ref().map(|a| Times {
            enabled: a.enabled,
            expires: a.expires,
            not_before: a.not_before,
            created: a.created,
            updated: a.updated,
        });
        let times = times.unwrap_or_default();
        objects::check_usable(Kind::Secret, name, &times)?;
        if fetch {
            return Ok(SecretValue::from(objects::metadata_json(
                secret.tags.as_ref(),
                &times,
            )));
        }
        Ok(SecretValue::from(secret.value.unwrap_or_default()))
    }

    pub(super) async fn read_key(
        &self,
        name: &str,
        version: Option<String>,
        fetch: bool,
    ) -> Result<SecretValue, ProviderError> {
        let what = format!("key {name}");
        let key = self
            .ctx
            .timed(PROVIDER, "GetKey", async {
                let options = KeyClientGetKeyOptions {
                    key_version: version,
                    ..Default::default()
                };
                let rsp = self
                    .keys
                    .get_key(name, Some(options))
                    .await
                    .map_err(|e| map_error("GetKey", &what, e))?;
                rsp.into_model().map_err(|e| map_error("GetKey", &what, e))
            })
            .await?;
        let times = key.attributes.as_ref().map(|a| Times {
            enabled: a.enabled,
            expires: a.expires,
            not_before: a.not_before,
            created: a.created,
            updated: a.updated,
        });
        let times = times.unwrap_or_default();
        objects::check_usable(Kind::Key, name, &times)?;
        if fetch {
            return Ok(SecretValue::from(objects::metadata_json(
                key.tags.as_ref(),
                &times,
            )));
        }
        let jwk = key
            .key
            .ok_or_else(|| ProviderError::Invalid(format!("key {name} has no key material")))?;
        let json = serde_json::to_vec(&jwk)
            .map_err(|e| ProviderError::Invalid(format!("key {name}: {e}")))?;
        Ok(SecretValue::from(json))
    }

    pub(super) async fn read_cert(
        &self,
        name: &str,
        version: Option<String>,
        fetch: bool,
    ) -> Result<SecretValue, ProviderError> {
        let what = format!("certificate {name}");
        let cert = self
            .ctx
            .timed(PROVIDER, "GetCertificate", async {
                let options = CertificateClientGetCertificateOptions {
                    certificate_version: version,
                    ..Default::default()
                };
                let rsp = self
                    .certs
                    .get_certificate(name, Some(options))
                    .await
                    .map_err(|e| map_error("GetCertificate", &what, e))?;
                rsp.into_model()
                    .map_err(|e| map_error("GetCertificate", &what, e))
            })
            .await?;
        let times = cert.attributes.as_ref().map(|a| Times {
            enabled: a.enabled,
            expires: a.expires,
            not_before: a.not_before,
            created: a.created,
            updated: a.updated,
        });
        let times = times.unwrap_or_default();
        objects::check_usable(Kind::Cert, name, &times)?;
        if fetch {
            return Ok(SecretValue::from(objects::metadata_json(
                cert.tags.as_ref(),
                &times,
            )));
        }
        let der = cert.cer.ok_or_else(|| {
            ProviderError::Invalid(format!("certificate {name} has no content (cer)"))
        })?;
        Ok(SecretValue::from(der))
    }
}
