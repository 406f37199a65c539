//! Templates that would mint credentials beyond the ExternalSecret's own RBAC, refused as ESO
//! refuses them: a `kubernetes.io/service-account-token` Secret naming a ServiceAccount (the token
//! controller would fill it with a long-lived token for that account) and any bootstrap token.
use crate::api::{ExternalSecretTemplate, TemplateTarget};

const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
const SERVICE_ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";
const BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";

/// Why the template may not be used, if it may not.
pub fn refuse_privileged_template(template: Option<&ExternalSecretTemplate>) -> Result<(), String> {
    let Some(template) = template else { return Ok(()) };
    match template.type_.as_deref() {
        Some(SERVICE_ACCOUNT_TOKEN) => {
            if template.metadata.as_ref().is_some_and(|m| m.annotations.contains_key(SERVICE_ACCOUNT_NAME)) {
                return Err(format!("template.type={SERVICE_ACCOUNT_TOKEN:?} with annotation {SERVICE_ACCOUNT_NAME:?} is not allowed"));
            }
            // Annotations rendered from templateFrom could name the account too.
            if template.template_from.iter().any(|f| f.target == Some(TemplateTarget::Annotations)) {
                return Err(format!("template.type={SERVICE_ACCOUNT_TOKEN:?} with templateFrom target=\"Annotations\" is not allowed"));
            }
            Ok(())
        }
        Some(BOOTSTRAP_TOKEN) => Err(format!("template.type={BOOTSTRAP_TOKEN:?} is not allowed")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(value: serde_json::Value) -> ExternalSecretTemplate {
        serde_json::from_value(value).expect("a valid template")
    }

    #[test]
    fn a_service_account_token_naming_an_account_is_refused() {
        let named = template(serde_json::json!({
            "type": SERVICE_ACCOUNT_TOKEN, "metadata": {"annotations": {SERVICE_ACCOUNT_NAME: "default"}},
        }));
        assert!(refuse_privileged_template(Some(&named)).unwrap_err().contains(SERVICE_ACCOUNT_NAME));
        let from_annotations = template(serde_json::json!({
            "type": SERVICE_ACCOUNT_TOKEN, "templateFrom": [{"literal": "x: y", "target": "Annotations"}],
        }));
        assert!(refuse_privileged_template(Some(&from_annotations)).unwrap_err().contains("Annotations"));
        let unnamed = template(serde_json::json!({"type": SERVICE_ACCOUNT_TOKEN, "data": {"token": "{{ .t }}"}}));
        assert_eq!(refuse_privileged_template(Some(&unnamed)), Ok(()));
    }

    #[test]
    fn a_bootstrap_token_is_refused_and_ordinary_types_pass() {
        let bootstrap = template(serde_json::json!({"type": BOOTSTRAP_TOKEN}));
        assert!(refuse_privileged_template(Some(&bootstrap)).unwrap_err().contains(BOOTSTRAP_TOKEN));
        for t in ["Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"] {
            assert_eq!(refuse_privileged_template(Some(&template(serde_json::json!({"type": t})))), Ok(()));
        }
        assert_eq!(refuse_privileged_template(None), Ok(()));
    }
}
