//! `dataFrom.find`, as ESO's GitLab provider does it: `name.regexp` is required, the only tag is
//! `environment_scope`, `path` is not supported. Groups are read left to right, then the
//! project; a variable of the exact environment beats a `*` one, and the project beats groups.
use std::collections::{BTreeMap, BTreeSet};

use sesame_provider_core::{FindQuery, FindScope, ProviderError, SecretValue};

use crate::api::Variable;
use crate::client::{GitlabClient, Owner, is_wildcard};

/// The environment a find reads: the store's, or the `environment_scope` tag's when the store
/// names none (both naming one is refused).
pub(crate) fn effective_environment(store: &str, query: &FindQuery) -> Result<String, ProviderError> {
    let mut env = store.to_string();
    for (tag, value) in &query.tags {
        if tag != "environment_scope" {
            return Err(ProviderError::Invalid("'find.tags' only supports 'environment_scope'".into()));
        }
        if !is_wildcard(store) && !is_wildcard(value) {
            return Err(ProviderError::Invalid("'find.tags' is constrained by 'environment_scope' of the store".into()));
        }
        env = value.clone();
    }
    Ok(env)
}

/// Whether a variable is read for `env`, and whether it is a `*` one.
fn matches(env: &str, var: &Variable, name: &regex::Regex) -> Option<bool> {
    let scope = var.environment_scope.as_deref().unwrap_or("");
    let wildcard = is_wildcard(scope);
    if !wildcard && !is_wildcard(env) && scope != env {
        return None;
    }
    (!var.key.is_empty() && name.is_match(&var.key)).then_some(wildcard)
}

pub(crate) async fn find(
    client: &GitlabClient,
    query: &FindQuery,
    scope: &FindScope<'_>,
) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
    let env = effective_environment(client.spec.environment.as_deref().unwrap_or(""), query)?;
    if query.path.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(ProviderError::Invalid("'find.path' is not implemented in the GitLab provider".into()));
    }
    let Some(name) = &query.name else {
        return Err(ProviderError::Invalid("'find.name' is mandatory".into()));
    };
    let name = regex::Regex::new(&name.regexp).map_err(|e| ProviderError::Invalid(format!("invalid find.name.regexp: {e}")))?;

    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for group in client.group_ids().await? {
        for var in client.list_variables(Owner::Group, &group, Some(scope)).await? {
            let Some(wildcard) = matches(&env, &var, &name) else { continue };
            // A `*` variable never replaces one already read (a more specific one).
            if wildcard && found.contains_key(&var.key) {
                continue;
            }
            found.insert(var.key, var.value);
            scope.check_matches(found.len())?;
        }
    }
    if let Some(project) = client.spec.project_id.as_deref().filter(|p| !p.is_empty()) {
        let mut specific = BTreeSet::new();
        for var in client.list_variables(Owner::Project, project, Some(scope)).await? {
            let Some(wildcard) = matches(&env, &var, &name) else { continue };
            if wildcard && specific.contains(&var.key) {
                continue;
            }
            if !wildcard {
                specific.insert(var.key.clone());
            }
            found.insert(var.key, var.value);
            scope.check_matches(found.len())?;
        }
    }
    let mut out = BTreeMap::new();
    for (key, value) in found {
        let value = SecretValue::from(value);
        scope.check_value(&key, &value)?;
        out.insert(key, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> FindQuery {
        FindQuery { tags: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    #[test]
    fn the_environment_comes_from_the_store_or_the_one_tag() {
        assert_eq!(effective_environment("prod", &tags(&[])).unwrap(), "prod");
        assert_eq!(effective_environment("", &tags(&[("environment_scope", "dev")])).unwrap(), "dev");
        assert_eq!(effective_environment("*", &tags(&[("environment_scope", "dev")])).unwrap(), "dev");
        let both = effective_environment("prod", &tags(&[("environment_scope", "dev")])).unwrap_err();
        assert!(both.to_string().contains("constrained"), "{both}");
        let other = effective_environment("", &tags(&[("team", "a")])).unwrap_err();
        assert!(other.to_string().contains("only supports 'environment_scope'"), "{other}");
    }

    #[test]
    fn a_variable_of_another_environment_is_skipped() {
        let any = regex::Regex::new(".*").unwrap();
        let var = |scope: &str| Variable { key: "K".into(), value: String::new(), environment_scope: Some(scope.into()) };
        assert_eq!(matches("prod", &var("prod"), &any), Some(false));
        assert_eq!(matches("prod", &var("*"), &any), Some(true));
        assert_eq!(matches("prod", &var("dev"), &any), None);
        assert_eq!(matches("", &var("dev"), &any), Some(false));
        assert_eq!(matches("", &var("*"), &regex::Regex::new("^X").unwrap()), None);
    }
}
