//! PushSecret on Key Vault keys (`key/NAME`, Import Key) and certificates (`cert/NAME`, Import
//! Certificate), with ESO 2.9's rules: what is imported carries `managed-by: external-secrets`
//! plus the metadata's `tags` (its `expirationDate` and `contentType` are for secrets; ESO
//! ignores them here, so does Sesame); an object without that tag is never overwritten or
//! deleted; the same key (type and public half) or the same leaf certificate imports nothing;
//! delete is Key Vault's soft delete. `remoteRef.property` does not apply to keys and
//! certificates and is ignored, as in ESO.
use std::collections::HashMap;

use azure_security_keyvault_certificates::models::{Certificate, CertificatePolicy, ImportCertificateParameters, SecretProperties};
use azure_security_keyvault_keys::models::{ImportKeyParameters, Key, KeyAttributes};
use sesame_provider_core::push::{MANAGED_BY, MANAGED_BY_VALUE};
use sesame_provider_core::{ProviderError, PushRef};

use super::push::Wanted;
use super::{AzureKvClient, PROVIDER, certmaterial, keymaterial, map_error};

/// A pushed key or certificate is read whole into memory and parsed: bounded well above any real
/// one (an RSA-8192 key, a PKCS#12 with a long chain) so a hostile value is refused up front.
pub(crate) const MAX_IMPORT: usize = 128 * 1024;

fn managed(tags: Option<&HashMap<String, String>>) -> bool {
    tags.and_then(|t| t.get(MANAGED_BY)).is_some_and(|v| v == MANAGED_BY_VALUE)
}

fn tags(wanted: &Wanted) -> HashMap<String, String> {
    let mut tags: HashMap<String, String> = wanted.tags.clone().into_iter().collect();
    tags.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
    tags
}

fn bounded(value: &[u8], what: &str) -> Result<(), ProviderError> {
    if value.len() > MAX_IMPORT {
        return Err(ProviderError::Invalid(format!("{what}: the value is {} bytes, over the {MAX_IMPORT}-byte limit", value.len())));
    }
    Ok(())
}

fn not_managed(what: &str) -> ProviderError {
    ProviderError::Invalid(format!("{what} is not managed by external-secrets (no {MANAGED_BY} tag): not overwritten"))
}

impl AzureKvClient {
    /// The current key; None when there is none (a soft-deleted key answers 404 too).
    async fn current_key(&self, name: &str) -> Result<Option<Key>, ProviderError> {
        let what = format!("key {name}");
        let call = async {
            let rsp = self.keys.get_key(name, None).await.map_err(|e| map_error("GetKey", &what, e))?;
            rsp.into_model().map_err(|e| map_error("GetKey", &what, e))
        };
        match self.ctx.timed(PROVIDER, "GetKey", call).await {
            Ok(key) => Ok(Some(key)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn current_cert(&self, name: &str) -> Result<Option<Certificate>, ProviderError> {
        let what = format!("certificate {name}");
        let call = async {
            let rsp = self.certs.get_certificate(name, None).await.map_err(|e| map_error("GetCertificate", &what, e))?;
            rsp.into_model().map_err(|e| map_error("GetCertificate", &what, e))
        };
        match self.ctx.timed(PROVIDER, "GetCertificate", call).await {
            Ok(cert) => Ok(Some(cert)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn push_key(&self, name: &str, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let what = format!("key {name}");
        bounded(value, &what)?;
        let wanted = Wanted::parse(remote)?;
        let jwk = keymaterial::jwk(value, name)?;
        let current = self.current_key(name).await?;
        if let Some(current) = &current {
            if !managed(current.tags.as_ref()) {
                return Err(not_managed(&what));
            }
            if current.key.as_ref().is_some_and(|old| keymaterial::same_public_key(&jwk, old)) {
                return Ok(());
            }
        }
        let parameters = ImportKeyParameters {
            key: Some(jwk),
            key_attributes: Some(KeyAttributes { enabled: Some(true), ..Default::default() }),
            tags: Some(tags(&wanted)),
            ..Default::default()
        };
        let body = parameters.try_into().map_err(|e| map_error("ImportKey", &what, e))?;
        let call = async { self.keys.import_key(name, body, None).await.map(|_| ()).map_err(|e| map_error("ImportKey", &what, e)) };
        self.ctx.timed(PROVIDER, "ImportKey", call).await
    }

    pub(super) async fn push_cert(&self, name: &str, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let what = format!("certificate {name}");
        bounded(value, &what)?;
        let wanted = Wanted::parse(remote)?;
        let import = certmaterial::parse(value, name)?;
        let current = self.current_cert(name).await?;
        if let Some(current) = &current {
            if !managed(current.tags.as_ref()) {
                return Err(not_managed(&what));
            }
            if current.cer.as_deref() == Some(import.leaf.as_slice()) {
                return Ok(());
            }
        }
        let policy = import.pem.then(|| CertificatePolicy {
            secret_properties: Some(SecretProperties { content_type: Some(certmaterial::PEM_CONTENT_TYPE.into()) }),
            ..Default::default()
        });
        let parameters = ImportCertificateParameters {
            base64_encoded_certificate: Some(import.value),
            certificate_policy: policy,
            tags: Some(tags(&wanted)),
            ..Default::default()
        };
        let body = parameters.try_into().map_err(|e| map_error("ImportCertificate", &what, e))?;
        let call = async {
            self.certs.import_certificate(name, body, None).await.map(|_| ()).map_err(|e| map_error("ImportCertificate", &what, e))
        };
        self.ctx.timed(PROVIDER, "ImportCertificate", call).await
    }

    /// Soft-deletes the key if it is there and managed; anything else is left alone.
    pub(super) async fn delete_key(&self, name: &str) -> Result<(), ProviderError> {
        let Some(current) = self.current_key(name).await? else { return Ok(()) };
        if !managed(current.tags.as_ref()) {
            return Ok(());
        }
        let what = format!("key {name}");
        let call = async { self.keys.delete_key(name, None).await.map(|_| ()).map_err(|e| map_error("DeleteKey", &what, e)) };
        match self.ctx.timed(PROVIDER, "DeleteKey", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    pub(super) async fn delete_cert(&self, name: &str) -> Result<(), ProviderError> {
        let Some(current) = self.current_cert(name).await? else { return Ok(()) };
        if !managed(current.tags.as_ref()) {
            return Ok(());
        }
        let what = format!("certificate {name}");
        let call =
            async { self.certs.delete_certificate(name, None).await.map(|_| ()).map_err(|e| map_error("DeleteCertificate", &what, e)) };
        match self.ctx.timed(PROVIDER, "DeleteCertificate", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    pub(super) async fn key_exists(&self, name: &str) -> Result<bool, ProviderError> {
        Ok(self.current_key(name).await?.is_some())
    }

    pub(super) async fn cert_exists(&self, name: &str) -> Result<bool, ProviderError> {
        Ok(self.current_cert(name).await?.is_some())
    }
}
