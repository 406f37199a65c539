//! The AWS session of a generator: a store spec built from the generator's `region`, `role` and
//! `auth`, handed to the AWS provider's own credential chain.
use sesame_generator_core::GeneratorError;
use sesame_provider_aws::{AwsAuth, AwsProvider, AwsServiceType};

/// The store-shaped view of a generator's AWS settings, checked.
pub(crate) fn store(kind: &str, region: &str, role: &str, auth: &AwsAuth) -> Result<AwsProvider, GeneratorError> {
    if region.is_empty() {
        return Err(GeneratorError::Invalid(format!("{kind}: region is required")));
    }
    let store = AwsProvider {
        // The service is not used: only the credential chain is.
        service: AwsServiceType::SecretsManager,
        region: region.to_string(),
        role: Some(role.to_string()).filter(|r| !r.is_empty()),
        additional_roles: vec![],
        external_id: None,
        session_tags: vec![],
        transitive_tag_keys: vec![],
        session_tags_policy: None,
        custom_session_tags: Default::default(),
        prefix: None,
        auth: auth.clone(),
        secrets_manager: None,
    };
    store.check_urls().map_err(|e| GeneratorError::Invalid(format!("{kind}: {e}")))?;
    Ok(store)
}
