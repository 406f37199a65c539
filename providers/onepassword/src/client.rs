//! Reads as ESO's onepassword provider reads: an item by title (or native id) in the first vault,
//! by priority, that holds it; a field by label (default `password`) or a file (`file/<name>`,
//! or any property of a DOCUMENT item); `dataFrom.extract` as every field (or file) of the item;
//! `find` over item fields, by title (`path`), label regexp (`name`) or tags.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use sesame_provider_core::{
    Capabilities, FindQuery, FindScope, ProviderContext, ProviderError, PushRef, RemoteKey, SecretProvider, SecretValue,
};

use crate::OnePasswordProvider;
use crate::connect::{Connect, Item, is_native_id};

/// The `provider` label of the call metrics.
pub const PROVIDER_NAME: &str = "OnePassword";
/// The field read when `property` is empty (ESO's default).
pub(crate) const DEFAULT_FIELD: &str = "password";
const DOCUMENT_CATEGORY: &str = "DOCUMENT";

/// A client for one 1Password Connect store.
pub struct OnePasswordClient {
    pub(crate) connect: Connect,
    /// Vault names (or ids), by priority.
    pub(crate) vaults: Vec<String>,
    /// Vault name → id, looked up once per store generation.
    vault_ids: Mutex<HashMap<String, String>>,
}

/// Build the client of a store.
pub async fn build(spec: &OnePasswordProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_spec()?;
    let host = spec.connect_host.trim_end_matches('/');
    let base = Url::parse(&format!("{host}/")).map_err(|e| ProviderError::Invalid(format!("connectHost {host:?}: {e}")))?;
    let token = ctx.credentials.secret_key(&spec.auth.secret_ref.connect_token_secret_ref, None).await?;
    let token = String::from_utf8(token.into_bytes())
        .map_err(|_| ProviderError::Invalid("the 1Password Connect token is not UTF-8 text".into()))?;
    let token = token.trim().to_string();
    if token.is_empty() || token.chars().any(char::is_control) {
        return Err(ProviderError::Invalid("the 1Password Connect token is empty or holds control characters".into()));
    }
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("sesame-external-secrets");
    if base.scheme() == "http" {
        // reqwest#2988: a plain-http client must not try to load platform roots.
        builder = builder.tls_certs_only(Vec::new());
    }
    let http = builder.build().map_err(|e| ProviderError::Invalid(format!("cannot build the HTTP client: {e}")))?;
    Ok(Arc::new(OnePasswordClient {
        connect: Connect { base, http, token, ctx },
        vaults: spec.sorted_vaults().into_iter().map(str::to_string).collect(),
        vault_ids: Mutex::default(),
    }))
}

/// What a property names: a field label or a file name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Field(&'a str),
    File(&'a str),
}

/// ESO's prefixes: `field/x` and `file/x` say which; otherwise a DOCUMENT item's property is a
/// file name and any other item's a field label.
pub(crate) fn target<'a>(category: &str, property: &'a str) -> Target<'a> {
    if let Some(label) = property.strip_prefix("field/") {
        return Target::Field(label);
    }
    if let Some(name) = property.strip_prefix("file/") {
        return Target::File(name);
    }
    if category == DOCUMENT_CATEGORY { Target::File(property) } else { Target::Field(property) }
}

fn no_version(key: &RemoteKey) -> Result<(), ProviderError> {
    match &key.version {
        Some(_) => Err(ProviderError::Invalid("'remoteRef.version' is not implemented in the 1Password provider".into())),
        None => Ok(()),
    }
}

impl OnePasswordClient {
    /// The id of a vault of the store.
    pub(crate) async fn vault_id(&self, name: &str) -> Result<String, ProviderError> {
        if let Some(id) = self.vault_ids.lock().expect("vault ids").get(name) {
            return Ok(id.clone());
        }
        let vault = self.connect.vault(name).await.map_err(|e| match e {
            // A vault the token cannot see is the store's configuration, not a missing secret.
            ProviderError::NotFound(m) => ProviderError::Invalid(format!("vault {name:?}: {m}")),
            other => other,
        })?;
        self.vault_ids.lock().expect("vault ids").insert(name.to_string(), vault.id.clone());
        Ok(vault.id)
    }

    /// The full item titled (or with the native id) `name`, from the first vault holding it.
    pub(crate) async fn find_item(&self, name: &str) -> Result<Item, ProviderError> {
        for vault in &self.vaults {
            let vault_id = self.vault_id(vault).await?;
            if is_native_id(name) {
                match self.connect.item(&vault_id, name).await {
                    Err(e) if e.is_not_found() => continue,
                    other => return other,
                }
            }
            let found = self.connect.items_by_title(&vault_id, name).await?;
            match found.as_slice() {
                [] => continue,
                [one] => return self.connect.item(&one.vault.id, &one.id).await,
                many => {
                    return Err(ProviderError::Invalid(format!("expected one 1Password item titled {name:?}, got {}", many.len())));
                }
            }
        }
        Err(ProviderError::NotFound(format!("item {name:?} is in none of the vaults {:?}", self.vaults)))
    }

    fn field<'a>(item: &'a Item, label: &str) -> Result<&'a str, ProviderError> {
        let mut matching = item.fields.iter().filter(|f| f.label == label);
        match (matching.next(), matching.count()) {
            (Some(f), 0) => Ok(&f.value),
            (None, _) => Err(ProviderError::NotFound(format!("item {:?} has no field labelled {label:?}", item.title))),
            (Some(_), more) => {
                Err(ProviderError::Invalid(format!("expected one field labelled {label:?} in item {:?}, got {}", item.title, more + 1)))
            }
        }
    }

    /// Every field of the item (or the one labelled `only`), by label.
    fn fields(item: &Item, only: &str) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let mut out = BTreeMap::new();
        for f in item.fields.iter().filter(|f| only.is_empty() || f.label == only) {
            Self::field(item, &f.label)?;
            out.insert(f.label.clone(), SecretValue::from(f.value.as_str()));
        }
        Ok(out)
    }

    /// The file named `name` (the first file when empty).
    async fn file(&self, item: &Item, name: &str) -> Result<SecretValue, ProviderError> {
        match item.files.iter().find(|f| name.is_empty() || f.name == name) {
            Some(file) => Ok(SecretValue::from(self.connect.file_content(item, file).await?)),
            None => Err(ProviderError::NotFound(format!("item {:?} has no file named {name:?}", item.title))),
        }
    }

    /// Every file of the item (or the one named `only`), by name.
    async fn files(&self, item: &Item, only: &str) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let mut out = BTreeMap::new();
        for file in item.files.iter().filter(|f| only.is_empty() || f.name == only) {
            out.insert(file.name.clone(), SecretValue::from(self.connect.file_content(item, file).await?));
        }
        Ok(out)
    }
}

#[async_trait]
impl SecretProvider for OnePasswordClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn applies_property(&self) -> bool {
        true
    }

    /// One field (default `password`) or file of an item; `metadataPolicy` is ignored, as in ESO.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        no_version(key)?;
        let item = self.find_item(&key.key).await?;
        match target(&item.category, key.property.as_deref().unwrap_or_default()) {
            Target::File(name) => self.file(&item, name).await,
            Target::Field(label) => {
                let label = if label.is_empty() { DEFAULT_FIELD } else { label };
                Self::field(&item, label).map(SecretValue::from)
            }
        }
    }

    /// Every field (or every file) of an item, by label.
    async fn get_secret_map(&self, key: &RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        no_version(key)?;
        let item = self.find_item(&key.key).await?;
        match target(&item.category, key.property.as_deref().unwrap_or_default()) {
            Target::File(name) => self.files(&item, name).await,
            Target::Field(label) => Self::fields(&item, label),
        }
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        crate::find::find(self, query, scope).await
    }

    /// ESO's check: every vault of the store can be read.
    async fn validate(&self) -> Result<(), ProviderError> {
        for vault in &self.vaults {
            self.vault_id(vault).await?;
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ReadWrite
    }

    async fn push_secret(&self, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
        crate::push::push(self, remote, value).await
    }

    async fn delete_secret(&self, remote: &PushRef) -> Result<(), ProviderError> {
        crate::push::delete(self, remote).await
    }

    async fn secret_exists(&self, remote: &PushRef) -> Result<bool, ProviderError> {
        crate::push::exists(self, remote).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_names_a_field_or_a_file_as_eso_reads_it() {
        assert_eq!(target("LOGIN", ""), Target::Field(""));
        assert_eq!(target("LOGIN", "username"), Target::Field("username"));
        assert_eq!(target("LOGIN", "file/cert.pem"), Target::File("cert.pem"));
        assert_eq!(target("DOCUMENT", "cert.pem"), Target::File("cert.pem"));
        assert_eq!(target("DOCUMENT", "field/notes"), Target::Field("notes"));
        assert_eq!(target("DOCUMENT", ""), Target::File(""));
    }
}
