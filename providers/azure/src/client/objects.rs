//! What a remote key names in a vault, and how an object's metadata reads.
use std::collections::{BTreeMap, HashMap};

use azure_core::time::{OffsetDateTime, to_rfc3339};
use sesame_provider_core::ProviderError;

/// The three object types a remote key can name, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `NAME` or `secret/NAME`: the secret's value.
    Secret,
    /// `key/NAME`: the public (or, for imported keys, whatever the vault returns) JWK, as JSON.
    Key,
    /// `cert/NAME`: the certificate's DER bytes (`cer`).
    Cert,
}

impl Kind {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Key => "key",
            Kind::Cert => "certificate",
        }
    }
}

/// `remoteRef.key` as ESO reads it: `TYPE/NAME`, or `NAME` for a secret. Anything after a second
/// slash is ignored, as in ESO.
pub(crate) fn parse(key: &str) -> Result<(Kind, &str), ProviderError> {
    let mut parts = key.split('/');
    let first = parts.next().unwrap_or_default();
    let (kind, name) = match parts.next() {
        None => (Kind::Secret, first),
        Some(name) => {
            let kind = match first {
                "secret" => Kind::Secret,
                "key" => Kind::Key,
                "cert" => Kind::Cert,
                other => {
                    return Err(ProviderError::Invalid(format!(
                        "unknown Azure Key Vault object type {other:?} in key {key:?}: use secret/, key/ or cert/"
                    )));
                }
            };
            (kind, name)
        }
    };
    check_name(name)?;
    Ok((kind, name))
}

/// Key Vault object names are 1–127 characters of `0-9a-zA-Z-`. Checked here so a name can never
/// change the request path.
pub(crate) fn check_name(name: &str) -> Result<(), ProviderError> {
    let ok = !name.is_empty() && name.len() <= 127 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!("{name:?} is not a valid Key Vault object name (1-127 characters of 0-9, a-z, A-Z and -)")))
    }
}

/// Versions are 32 hex characters in Azure; anything alphanumeric is passed on.
pub(crate) fn check_version(version: &str) -> Result<(), ProviderError> {
    if !version.is_empty() && version.len() <= 64 && version.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!("{version:?} is not a valid Key Vault object version")))
    }
}

/// The attributes every object type shares, as far as Sesame reads them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Times {
    pub enabled: Option<bool>,
    pub expires: Option<OffsetDateTime>,
    pub not_before: Option<OffsetDateTime>,
    pub created: Option<OffsetDateTime>,
    pub updated: Option<OffsetDateTime>,
}

/// `metadataPolicy: Fetch`: the object's tags plus its dates as `attribute.expires`,
/// `attribute.created`, `attribute.updated` and `attribute.notBefore` (RFC 3339, UTC), one JSON
/// object, as ESO's default client returns them.
pub(crate) fn metadata_json(tags: Option<&HashMap<String, String>>, times: &Times) -> Vec<u8> {
    let mut out: BTreeMap<String, String> = tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let mut set = |name: &str, at: Option<OffsetDateTime>| {
        if let Some(at) = at {
            let utc = OffsetDateTime::from_unix_timestamp(at.unix_timestamp()).unwrap_or(at);
            out.insert(name.to_string(), to_rfc3339(&utc));
        }
    };
    set("attribute.expires", times.expires);
    set("attribute.created", times.created);
    set("attribute.updated", times.updated);
    set("attribute.notBefore", times.not_before);
    serde_json::to_vec(&out).unwrap_or_default()
}

/// A disabled secret is refused (Key Vault itself answers 403 `SecretDisabled`; this also covers
/// a response that says `enabled: false`). A disabled key or certificate is still readable in Key
/// Vault and ESO serves it, so it is served and logged. An expired or not-yet-valid object is
/// served too (`exp`/`nbf` are advisory for reads, and ESO serves them) and logged.
pub(crate) fn check_usable(kind: Kind, name: &str, times: &Times) -> Result<(), ProviderError> {
    if times.enabled == Some(false) {
        if kind == Kind::Secret {
            return Err(ProviderError::Invalid(format!("{} {name} is disabled in the vault", kind.noun())));
        }
        tracing::warn!(object = %name, kind = kind.noun(), "reading a disabled Key Vault object");
    }
    let now = OffsetDateTime::now_utc();
    if let Some(exp) = times.expires.filter(|e| *e <= now) {
        tracing::warn!(object = %name, kind = kind.noun(), expired = %to_rfc3339(&exp), "reading an expired Key Vault object");
    }
    if let Some(nbf) = times.not_before.filter(|n| *n > now) {
        tracing::warn!(object = %name, kind = kind.noun(), not_before = %to_rfc3339(&nbf), "reading a Key Vault object that is not valid yet");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_object_type_by_prefix() {
        assert_eq!(parse("db-password").unwrap(), (Kind::Secret, "db-password"));
        assert_eq!(parse("secret/db").unwrap(), (Kind::Secret, "db"));
        assert_eq!(parse("key/signing").unwrap(), (Kind::Key, "signing"));
        assert_eq!(parse("cert/tls/ignored").unwrap(), (Kind::Cert, "tls"));
        assert!(matches!(parse("blob/x"), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn names_that_could_bend_the_request_path_are_refused() {
        for bad in ["", "a b", "..", "a?b", "a%2Fb", "secret/", "x".repeat(128).as_str()] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_version("0123abcd").is_ok());
        assert!(check_version("../x").is_err());
    }

    #[test]
    fn metadata_is_tags_and_dates_in_one_sorted_object() {
        let tags = HashMap::from([("team".to_string(), "pay".to_string())]);
        let times = Times { expires: OffsetDateTime::from_unix_timestamp(1_700_000_000).ok(), ..Default::default() };
        let json = String::from_utf8(metadata_json(Some(&tags), &times)).unwrap();
        assert_eq!(json, r#"{"attribute.expires":"2023-11-14T22:13:20Z","team":"pay"}"#);
    }
}
