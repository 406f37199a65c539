//! `examples/vault` stays a valid ESO v1 store for this provider.
use sesame_provider_vault::{VaultKvVersion, VaultProvider};

fn documents(path: &str) -> Vec<serde_json::Value> {
    let file = sesame_testsupport::workspace_root().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.split("\n---\n").map(|doc| serde_saphyr::from_str(doc).expect("valid YAML")).collect()
}

#[test]
fn the_example_store_parses_as_a_vault_provider() {
    let docs = documents("examples/vault/secretstore.yaml");
    let store = docs.iter().find(|d| d["kind"] == "SecretStore").expect("a SecretStore");
    assert_eq!(store["apiVersion"], "external-secrets.io/v1");
    let vault: VaultProvider = serde_json::from_value(store["spec"]["provider"]["vault"].clone()).unwrap();
    assert_eq!(vault.path.as_deref(), Some("secret"));
    assert_eq!(vault.version, VaultKvVersion::V2);
    let approle = vault.auth.unwrap().app_role.expect("appRole auth");
    assert_eq!(approle.secret_ref.name, "vault-approle");

    let es = &documents("examples/vault/externalsecret.yaml")[0];
    assert_eq!(es["kind"], "ExternalSecret");
    assert_eq!(es["spec"]["secretStoreRef"]["name"], "vault");
}
