use serde_json::json;

use super::*;

fn data() -> BTreeMap<String, Vec<u8>> {
    [("user".to_string(), b"admin".to_vec()), ("port".to_string(), b"5432".to_vec())].into()
}

fn make(kind: &str, template: Option<serde_json::Value>, base: Option<&Value>) -> Result<Value, TemplateFailure> {
    let reference = ManifestReference { api_version: if kind == "ConfigMap" { "v1" } else { "example.io/v1" }.into(), kind: kind.into() };
    let template: Option<ExternalSecretTemplate> = template.map(|t| serde_json::from_value(t).unwrap());
    let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let annotations = BTreeMap::from([("kubectl.kubernetes.io/last-applied-configuration".to_string(), "{}".to_string())]);
    let data = data();
    let inputs = Inputs {
        reference: &reference,
        name: "app",
        namespace: "ns",
        labels: &labels,
        annotations: &annotations,
        template: template.as_ref(),
        loaded: &Vec::new(),
        data: &data,
    };
    build(&inputs, base, &RenderLimits::default(), None)
}

#[test]
fn without_a_template_a_config_map_gets_data_and_a_custom_resource_spec_data() {
    let cm = make("ConfigMap", None, None).unwrap();
    assert_eq!(cm["data"], json!({"port": "5432", "user": "admin"}));
    assert_eq!(cm["metadata"]["labels"], json!({"team": "a", MANAGED_LABEL: "true"}), "the ExternalSecret's labels, and managed");
    assert_eq!(cm["metadata"]["annotations"], Value::Null, "kubectl's last-applied copy is not carried over");
    let cr = make("Database", None, None).unwrap();
    assert_eq!(cr["spec"], json!({"data": {"port": "5432", "user": "admin"}}));
    assert_eq!((cr["apiVersion"].as_str(), cr["metadata"]["name"].as_str()), (Some("example.io/v1"), Some("app")));
}

#[test]
fn a_template_writes_data_labels_spec_and_nested_paths() {
    let tpl = json!({
        "metadata": {"labels": {"owner": "{{ .user }}"}},
        "data": {"dsn": "{{ .user }}@db:{{ .port }}"},
        "templateFrom": [
            {"literal": "replicas: 2\nuser: {{ .user }}", "target": "spec"},
            {"literal": "port: {{ .port }}\nhost: db", "target": "spec.connection"},
            {"literal": "tls: true", "target": "spec.connection"},
            {"literal": "- {{ .user }}", "target": "spec.rules[1].users"},
            {"literal": "tier: {{ \"gold\" | b64enc }}", "target": "Labels", "valuesDecodingStrategy": "Base64"},
        ],
    });
    let cr = make("Database", Some(tpl), None).unwrap();
    let conn = json!({"port": 5432, "host": "db", "tls": true});
    assert_eq!(cr["spec"], json!({"replicas": 2, "user": "admin", "connection": conn, "rules": [null, {"users": ["admin"]}]}));
    assert_eq!(cr["data"], json!({"dsn": "admin@db:5432"}), "template.data goes to data, as ESO");
    assert_eq!(cr["metadata"]["labels"], json!({"owner": "admin", "tier": "gold", MANAGED_LABEL: "true"}));
    assert_eq!(cr["metadata"]["labels"].get("team"), None, "a template's metadata replaces the ExternalSecret's");
}

#[test]
fn a_merging_policy_builds_on_the_existing_object() {
    let existing =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "labels": {"x": "y"}}, "data": {"other": "kept"}});
    let cm = make("ConfigMap", Some(json!({"data": {"u": "{{ .user }}"}})), Some(&existing)).unwrap();
    assert_eq!(cm["data"], json!({"other": "kept", "u": "admin"}));
    assert_eq!(cm["metadata"]["labels"]["x"], "y");
}

#[test]
fn paths_into_identity_metadata_or_status_are_refused_before_rendering() {
    for path in ["metadata.ownerReferences", "Metadata", "status.phase", "kind", "apiVersion"] {
        let tpl: ExternalSecretTemplate = serde_json::from_value(json!({"templateFrom": [{"literal": "a: b", "target": path}]})).unwrap();
        let e = validate(Some(&tpl)).unwrap_err();
        assert!(e.starts_with("templateFrom[0].target: path") && e.contains("may not write"), "{path}: {e}");
    }
    for (path, why) in
        [("spec..x", "empty segment"), ("spec.x[10001]", "exceeds maximum"), ("[0].x", "starts with a key"), ("spec.x[a]", "bad index")]
    {
        let tpl: ExternalSecretTemplate = serde_json::from_value(json!({"templateFrom": [{"literal": "a: b", "target": path}]})).unwrap();
        assert!(validate(Some(&tpl)).unwrap_err().contains(why), "{path}");
    }
    let deep = vec!["k"; MAX_PATH_TOKENS + 1].join(".");
    assert!(parse_path(&deep).unwrap_err().contains("steps"));
    assert_eq!(parse_path("spec.a[2]"), Ok(vec![Token::Key("spec".into()), Token::Key("a".into()), Token::Index(2)]));
}

#[test]
fn binary_values_and_oversized_objects_are_refused_without_showing_a_value() {
    let reference = ManifestReference { api_version: "v1".into(), kind: "ConfigMap".into() };
    let data = BTreeMap::from([("k".to_string(), vec![0xff, 0xfe])]);
    let none = BTreeMap::new();
    let inputs = Inputs {
        reference: &reference,
        name: "a",
        namespace: "n",
        labels: &none,
        annotations: &none,
        template: None,
        loaded: &Vec::new(),
        data: &data,
    };
    let e = build(&inputs, None, &RenderLimits::default(), None).unwrap_err();
    assert!(e.summary.contains("not UTF-8 text"), "{}", e.summary);
    let big = json!({"data": {"k": "x".repeat(MAX_OBJECT_BYTES)}});
    assert!(check_size(&big).unwrap_err().contains("over the 1048576-byte limit"));
    assert!(check_size(&json!({"data": {"k": "v"}})).is_ok());
}
