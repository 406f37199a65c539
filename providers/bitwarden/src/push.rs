//! PushSecret as ESO 2.9's bitwarden provider does it. Bitwarden allows several secrets with one
//! name, so nothing is overwritten on a guess: among the organization's secrets named
//! `remoteKey`, one in the store's project with the same note and value means nothing to do, one
//! with the same note and another value is updated; otherwise a new secret is created in the
//! project. The note comes from the entry's metadata (`note`, at its top level or nested, e.g. in
//! a `PushSecretMetadata` spec).
use serde_json::Value;
use sesame_provider_core::{ProviderError, PushRef};

use crate::client::BitwardenClient;
use crate::is_uuid;
use crate::sdk::Write;

pub(crate) async fn push(client: &BitwardenClient, remote: &PushRef, value: &[u8]) -> Result<(), ProviderError> {
    let key = remote.key.as_str();
    if key.is_empty() {
        return Err(ProviderError::Invalid("remote key must be defined".into()));
    }
    if remote.property.is_some() {
        return Err(ProviderError::Invalid(format!(
            "secret {key}: Bitwarden Secrets Manager stores one value per secret, remoteRef.property is not supported"
        )));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| ProviderError::Invalid(format!("secret {key}: Bitwarden values are text, and the value is not UTF-8")))?;
    let note = note(remote.metadata.as_ref(), key)?;
    let listed = client.sdk.list(&client.organization_id).await?;
    for entry in listed.iter().filter(|e| e.key == key) {
        let current = client.sdk.get(&entry.id).await?;
        if current.key != key || current.note != note || !client.in_project(&current) {
            continue;
        }
        if current.value == value {
            return Ok(());
        }
        let update = write(client, Some(&current.id), key, &note, value);
        return client.sdk.update(&update).await.map(|_| ());
    }
    client.sdk.create(&write(client, None, key, &note, value)).await.map(|_| ())
}

fn write<'a>(client: &'a BitwardenClient, id: Option<&'a str>, key: &'a str, note: &'a str, value: &'a str) -> Write<'a> {
    Write { id, key, note, organization_id: &client.organization_id, project_ids: [&client.project_id], value }
}

/// `deletionPolicy: Delete`: a UUID key is a secret id, any other the one secret of that name in
/// the project. Unlike ESO, a secret already gone is not an error (nothing is left to delete).
pub(crate) async fn delete(client: &BitwardenClient, remote: &PushRef) -> Result<(), ProviderError> {
    let id = if is_uuid(&remote.key) {
        remote.key.clone()
    } else {
        match client.find_by_name(&remote.key).await? {
            Some(secret) => secret.id,
            None => return Ok(()),
        }
    };
    let deleted = match client.sdk.delete(&[&id]).await {
        Err(e) if e.is_not_found() => return Ok(()),
        other => other?,
    };
    let errors: Vec<String> = deleted.iter().filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.id))).collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ProviderError::Invalid(format!("error deleting secret {}: {}", remote.key, errors.join("; ")))),
    }
}

/// `updatePolicy: IfNotExists`: a UUID key exists when it can be read, any other name when the
/// project holds a secret of that name.
pub(crate) async fn exists(client: &BitwardenClient, remote: &PushRef) -> Result<bool, ProviderError> {
    if is_uuid(&remote.key) {
        return match client.sdk.get(&remote.key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        };
    }
    Ok(client.find_by_name(&remote.key).await?.is_some())
}

/// The `note` of an entry's metadata, as ESO digs for it: the top-level key, else the same search
/// in the first nested object. Empty when there is none; a note that is not text is refused.
pub(crate) fn note(metadata: Option<&Value>, key: &str) -> Result<String, ProviderError> {
    let Some(metadata) = metadata.filter(|m| !m.is_null()) else { return Ok(String::new()) };
    let Some(mut object) = metadata.as_object() else {
        return Err(ProviderError::Invalid(format!("metadata of {key}: must be an object")));
    };
    loop {
        match object.get("note") {
            Some(Value::String(note)) => return Ok(note.clone()),
            Some(_) => return Err(ProviderError::Invalid(format!("metadata of {key}: note must be a string"))),
            None => match object.values().find_map(Value::as_object) {
                Some(nested) => object = nested,
                None => return Ok(String::new()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_note_is_found_where_eso_finds_it() {
        assert_eq!(note(None, "k").unwrap(), "");
        assert_eq!(note(Some(&json!({"note": "top"})), "k").unwrap(), "top");
        let envelope =
            json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"note": "in spec"}});
        assert_eq!(note(Some(&envelope), "k").unwrap(), "in spec");
        assert_eq!(note(Some(&json!({"other": 1})), "k").unwrap(), "");
        assert!(note(Some(&json!({"note": 3})), "k").unwrap_err().to_string().contains("note must be a string"));
        assert!(note(Some(&json!("note")), "k").unwrap_err().to_string().contains("must be an object"));
    }
}
