//! PushSecret on Key Vault secrets, with ESO 2.9's rules: a secret Sesame writes carries the tag
//! `managed-by: external-secrets` and one without it is never overwritten or deleted; a value
//! (with its expiry and content type) equal to the current version writes nothing;
//! `data[].metadata` (ESO's `PushSecretMetadata`) sets `expirationDate`, `contentType` and
//! `tags`. Delete is Key Vault's soft delete, never a purge, as ESO. Keys and certificates
//! (`key/…`, `cert/…`) are not pushed yet and say so.
use std::collections::{BTreeMap, HashMap};

use azure_core::time::{OffsetDateTime, parse_rfc3339};
use azure_security_keyvault_secrets::models::{Secret, SecretAttributes, SetSecretParameters};
use serde::Deserialize;
use sesame_provider_core::push::{MANAGED_BY, MANAGED_BY_VALUE, has_property, merge_property, metadata_spec, remove_property};
use sesame_provider_core::{ProviderError, PushRef};

use super::objects::{self, Kind};
use super::{AzureKvClient, PROVIDER, map_error};

/// `data[].metadata.spec` for Key Vault: ESO's fields, unknown ones refused as ESO does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    /// RFC 3339, e.g. `2030-12-31T20:00:00Z`: the secret's `exp` attribute.
    #[serde(default)]
    expiration_date: String,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What one push writes besides the value.
#[derive(Debug)]
pub(super) struct Wanted {
    expires: Option<OffsetDateTime>,
    content_type: Option<String>,
    pub(super) tags: BTreeMap<String, String>,
}

impl Wanted {
    pub(super) fn parse(remote: &PushRef) -> Result<Self, ProviderError> {
        let meta: Metadata = metadata_spec(remote.metadata.as_ref(), &remote.key)?.unwrap_or_default();
        let invalid = |why: String| ProviderError::Invalid(format!("metadata of {}: {why}", remote.key));
        let expires = match meta.expiration_date.as_str() {
            "" => None,
            date => Some(parse_rfc3339(date).map_err(|_| {
                invalid(format!("expirationDate {date:?} is not RFC 3339 (YYYY-MM-DDTHH:MM:SSZ, e.g. 2030-12-31T20:00:00Z)"))
            })?),
        };
        if meta.tags.contains_key(MANAGED_BY) {
            return Err(invalid(format!("cannot specify a '{MANAGED_BY}' tag")));
        }
        Ok(Wanted { expires, content_type: Some(meta.content_type).filter(|c| !c.is_empty()), tags: meta.tags })
    }
}

fn managed(secret: &Secret) -> bool {
    secret.tags.as_ref().and_then(|t| t.get(MANAGED_BY)).is_some_and(|v| v == MANAGED_BY_VALUE)
}

fn expires(secret: &Secret) -> Option<OffsetDateTime> {
    secret.attributes.as_ref().and_then(|a| a.expires)
}

/// ESO's "unchanged": same value and expiry, and the same content type when one is asked for.
fn unchanged(current: &Secret, value: &str, wanted: &Wanted) -> bool {
    current.value.as_deref() == Some(value)
        && expires(current) == wanted.expires
        && wanted.content_type.as_ref().is_none_or(|ct| current.content_type.as_ref() == Some(ct))
}

/// The object a push names; the name is checked so it can never change the request path.
fn target(remote: &PushRef) -> Result<(Kind, &str), ProviderError> {
    objects::parse(&remote.key)
}

fn text(value: Vec<u8>, name: &str) -> Result<String, ProviderError> {
    String::from_utf8(value)
        .map_err(|_| ProviderError::Invalid(format!("secret {name}: Key Vault secret values are text; the value is not UTF-8")))
}

impl AzureKvClient {
    /// The current version; None when the secret does not exist (or only as a deleted secret).
    async fn current(&self, name: &str) -> Result<Option<Secret>, ProviderError> {
        let what = format!("secret {name}");
        let call = async {
            let rsp = self.secrets.get_secret(name, None).await.map_err(|e| map_error("GetSecret", &what, e))?;
            rsp.into_model().map_err(|e| map_error("GetSecret", &what, e))
        };
        match self.ctx.timed(PROVIDER, "GetSecret", call).await {
            Ok(secret) => Ok(Some(secret)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set(&self, name: &str, value: String, wanted: &Wanted, current: Option<&Secret>) -> Result<(), ProviderError> {
        let mut tags: HashMap<String, String> = wanted.tags.clone().into_iter().collect();
        tags.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        let attributes = SecretAttributes { enabled: Some(true), expires: wanted.expires, ..Default::default() };
        let parameters = SetSecretParameters {
            value: Some(value),
            tags: Some(tags),
            secret_attributes: Some(attributes),
            // As ESO: no content type asked for keeps the secret's own.
            content_type: wanted.content_type.clone().or_else(|| current.and_then(|c| c.content_type.clone())),
        };
        let what = format!("secret {name}");
        let body = parameters.try_into().map_err(|e| map_error("SetSecret", &what, e))?;
        let call = async { self.secrets.set_secret(name, body, None).await.map(|_| ()).map_err(|e| map_error("SetSecret", &what, e)) };
        self.ctx.timed(PROVIDER, "SetSecret", call).await
    }

    pub(super) async fn push(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        let name = match target(remote)? {
            (Kind::Secret, name) => name,
            (Kind::Key, name) => return self.push_key(name, remote, value).await,
            (Kind::Cert, name) => return self.push_cert(name, remote, value).await,
        };
        let wanted = Wanted::parse(remote)?;
        let current = self.current(name).await?;
        if current.as_ref().is_some_and(|c| !managed(c)) {
            return Err(ProviderError::Invalid(format!(
                "secret {name} is not managed by external-secrets (no {MANAGED_BY} tag): not overwritten"
            )));
        }
        let value = match &remote.property {
            Some(p) => merge_property(current.as_ref().and_then(|c| c.value.as_deref()).map(str::as_bytes), p, value, name)?,
            None => value.to_vec(),
        };
        let value = text(value, name)?;
        if current.as_ref().is_some_and(|c| unchanged(c, &value, &wanted)) {
            return Ok(());
        }
        self.set(name, value, &wanted, current.as_ref()).await
    }

    /// Removes what was pushed: the property (a new version without it, same tags, expiry and
    /// content type; the secret goes with its last one) or the secret, by soft delete. A missing
    /// or unmanaged secret is left alone.
    pub(super) async fn delete(&self, remote: &PushRef) -> Result<(), ProviderError> {
        let name = match target(remote)? {
            (Kind::Secret, name) => name,
            (Kind::Key, name) => return self.delete_key(name).await,
            (Kind::Cert, name) => return self.delete_cert(name).await,
        };
        let Some(current) = self.current(name).await? else { return Ok(()) };
        if !managed(&current) {
            return Ok(());
        }
        if let Some(property) = &remote.property {
            let bytes = current.value.clone().unwrap_or_default().into_bytes();
            match remove_property(&bytes, property) {
                Some(rest) if rest == bytes => return Ok(()),
                Some(rest) => {
                    let tags = current.tags.clone().unwrap_or_default().into_iter().filter(|(k, _)| k != MANAGED_BY).collect();
                    let keep = Wanted { expires: expires(&current), content_type: current.content_type.clone(), tags };
                    return self.set(name, text(rest, name)?, &keep, Some(&current)).await;
                }
                None => {}
            }
        }
        let what = format!("secret {name}");
        let call = async { self.secrets.delete_secret(name, None).await.map(|_| ()).map_err(|e| map_error("DeleteSecret", &what, e)) };
        match self.ctx.timed(PROVIDER, "DeleteSecret", call).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// The secret (or, with a property, that property of its JSON value), key or certificate
    /// exists.
    pub(super) async fn exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        let name = match target(remote)? {
            (Kind::Secret, name) => name,
            (Kind::Key, name) => return self.key_exists(name).await,
            (Kind::Cert, name) => return self.cert_exists(name).await,
        };
        Ok(match (self.current(name).await?, &remote.property) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(s), Some(p)) => has_property(s.value.as_deref().unwrap_or_default().as_bytes(), p),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn with(spec: serde_json::Value) -> PushRef {
        PushRef {
            metadata: Some(json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": spec})),
            ..PushRef::new("db", None)
        }
    }

    #[test]
    fn metadata_is_eso_s() {
        let w = Wanted::parse(&with(json!({"expirationDate": "2030-12-31T20:00:00Z", "contentType": "text/plain", "tags": {"team": "a"}})))
            .unwrap();
        assert_eq!(w.expires.unwrap().unix_timestamp(), 1_924_977_600);
        assert_eq!(w.content_type.as_deref(), Some("text/plain"));
        assert_eq!(w.tags["team"], "a");
        for (spec, why) in [
            (json!({"expirationDate": "tomorrow"}), "RFC 3339"),
            (json!({"tags": {"managed-by": "me"}}), "managed-by"),
            (json!({"expiry": "x"}), "expiry"),
        ] {
            let e = Wanted::parse(&with(spec)).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn the_prefix_names_the_object_and_names_are_checked() {
        assert_eq!(target(&PushRef::new("secret/db", None)).unwrap(), (Kind::Secret, "db"));
        assert_eq!(target(&PushRef::new("cert/tls", None)).unwrap(), (Kind::Cert, "tls"));
        assert_eq!(target(&PushRef::new("key/signing", None)).unwrap(), (Kind::Key, "signing"));
        assert!(target(&PushRef::new("db?x=1", None)).is_err());
    }

    #[test]
    fn unchanged_compares_value_expiry_and_an_asked_content_type() {
        let mut current = Secret::default();
        current.value = Some("v".into());
        current.content_type = Some("a".into());
        let wanted = |ct: Option<&str>| Wanted { expires: None, content_type: ct.map(str::to_string), tags: BTreeMap::new() };
        assert!(unchanged(&current, "v", &wanted(None)));
        assert!(unchanged(&current, "v", &wanted(Some("a"))));
        assert!(!unchanged(&current, "v", &wanted(Some("b"))));
        assert!(!unchanged(&current, "w", &wanted(None)));
    }
}
