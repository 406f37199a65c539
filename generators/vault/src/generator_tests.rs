use super::*;

fn spec(extra: &str) -> VaultDynamicSecretSpec {
    let json = format!(r#"{{"provider":{{"server":"http://127.0.0.1:8200"}},"path":"pki/issue/web"{extra}}}"#);
    serde_json::from_str(&json).unwrap()
}

fn invalid(extra: &str) -> String {
    match VaultDynamicSecret::new(spec(extra)) {
        Err(GeneratorError::Invalid(m)) => m,
        other => panic!("{extra}: {other:?}"),
    }
}

#[test]
fn methods_map_as_esos_and_writes_carry_the_parameters() {
    let g = VaultDynamicSecret::new(spec("")).unwrap();
    assert_eq!((g.method.clone(), g.call, g.body.clone()), (Method::GET, "ReadDynamicSecret", None));
    let g = VaultDynamicSecret::new(spec(r#","method":"POST","parameters":{"common_name":"a.example.com"}"#)).unwrap();
    assert_eq!((g.method.clone(), g.body.clone()), (Method::PUT, Some(json!({"common_name": "a.example.com"}))));
    assert_eq!(VaultDynamicSecret::new(spec(r#","method":"list""#)).unwrap().method.as_str(), "LIST");
    assert_eq!(VaultDynamicSecret::new(spec(r#","method":"DELETE""#)).unwrap().method, Method::DELETE);
    assert_eq!(VaultDynamicSecret::new(spec(r#","method":"PATCH""#)).unwrap().body, Some(json!({})));
}

#[test]
fn get_parameters_become_the_query_of_gets_only() {
    let g = VaultDynamicSecret::new(spec(r#","getParameters":{"a":["1","2"],"b":["3"]}"#)).unwrap();
    assert_eq!(g.query, [("a".to_string(), "1".to_string()), ("a".into(), "2".into()), ("b".into(), "3".into())]);
    assert!(VaultDynamicSecret::new(spec(r#","method":"POST","getParameters":{"a":["1"]}"#)).unwrap().query.is_empty());
}

#[test]
fn retry_settings_default_to_the_vault_clients_and_are_bounded() {
    let g = VaultDynamicSecret::new(spec("")).unwrap();
    assert_eq!((g.retries, g.interval), (2, Duration::from_secs(1)));
    let g = VaultDynamicSecret::new(spec(r#","retrySettings":{"maxRetries":5,"retryInterval":"1m30s"}"#)).unwrap();
    assert_eq!((g.retries, g.interval), (5, Duration::from_secs(90)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("1x"), None);
}

#[test]
fn every_invalid_spec_is_refused_with_its_reason() {
    let bad_path = |p: &str| {
        let json = format!(r#"{{"provider":{{"server":"http://127.0.0.1:8200"}},"path":{}}}"#, serde_json::to_string(p).unwrap());
        match VaultDynamicSecret::new(serde_json::from_str(&json).unwrap()) {
            Err(GeneratorError::Invalid(m)) => m,
            other => panic!("{p}: {other:?}"),
        }
    };
    assert!(bad_path("").contains("path must be"));
    assert!(bad_path(&"a".repeat(2000)).contains("path must be"));
    for p in ["pki/../sys/seal", "a?x=1", "a#b", "a\nb", "./a", "a//b", "a%2f"] {
        assert!(bad_path(p).contains("must be a path of"), "{p}");
    }
    assert!(invalid(r#","method":"POST","parameters":["x"]"#).contains("parameters must be an object"));
    assert!(invalid(r#","retrySettings":{"maxRetries":-1}"#).contains("maxRetries -1"));
    assert!(invalid(r#","retrySettings":{"maxRetries":99}"#).contains("maxRetries 99"));
    assert!(invalid(r#","retrySettings":{"retryInterval":"soon"}"#).contains("retryInterval"));
    assert!(invalid(r#","retrySettings":{"retryInterval":"1h"}"#).contains("retryInterval"));
    let no_scheme: VaultDynamicSecretSpec = serde_json::from_str(r#"{"provider":{"server":"ftp://vault"},"path":"x"}"#).unwrap();
    assert!(VaultDynamicSecret::new(no_scheme).is_err());
    assert!(serde_json::from_str::<VaultDynamicSecretSpec>(r#"{"path":"x"}"#).is_err(), "provider is required");
    assert!(
        serde_json::from_str::<VaultDynamicSecretSpec>(r#"{"provider":{"server":"http://v"},"path":"x","resultType":"Lease"}"#).is_err()
    );
}

#[test]
fn the_spec_reads_esos_field_names_and_defaults() {
    let s = spec(r#","controller":"c","resultType":"Auth","allowEmptyResponse":true"#);
    assert_eq!((s.controller.as_str(), s.result_type, s.allow_empty_response), ("c", VaultDynamicSecretResultType::Auth, true));
    assert_eq!(spec("").result_type, VaultDynamicSecretResultType::Data);
    let schema = serde_json::to_value(schemars::schema_for!(VaultDynamicSecretSpec)).unwrap();
    assert_eq!(schema["properties"]["resultType"]["default"], "Data");
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(required, ["provider", "path"]);
}

#[test]
fn a_gce_login_is_the_controller_s_own_identity() {
    let with_auth = |auth: &str| {
        let json = format!(r#"{{"provider":{{"server":"http://127.0.0.1:8200","auth":{auth}}},"path":"pki/issue/web"}}"#);
        VaultDynamicSecret::new(serde_json::from_str(&json).unwrap()).unwrap()
    };
    assert!(with_auth(r#"{"gcp":{"role":"r"}}"#).controller_identity().unwrap().contains("GCE metadata"));
    assert_eq!(with_auth(r#"{"tokenSecretRef":{"name":"t","key":"token"}}"#).controller_identity(), None);
}
