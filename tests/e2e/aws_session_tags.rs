//! AWS `sessionTagsPolicy` on the real binary: every AssumeRole the controller sends to STS
//! (moto, behind a recording proxy: moto accepts session tags but keeps no trace of them) carries
//! the namespace of the ExternalSecret and the store's name and kind, as ESO's.
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

#[path = "../../providers/aws/tests/moto/proxy.rs"]
#[allow(dead_code)]
mod proxy;

const ROLE: &str = "arn:aws:iam::123456789012:role/team-b";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn aws(policy: Value, creds_namespace: Option<&str>) -> Value {
    let sel = |key: &str| match creds_namespace {
        Some(ns) => json!({"name": "aws-creds", "key": key, "namespace": ns}),
        None => json!({"name": "aws-creds", "key": key}),
    };
    let mut aws = json!({
        "service": "SecretsManager",
        "region": sesame_testsupport::env().aws_region,
        "role": ROLE,
        "auth": {"secretRef": {"accessKeyIDSecretRef": sel("id"), "secretAccessKeySecretRef": sel("secret")}},
    });
    aws.as_object_mut().unwrap().extend(policy.as_object().cloned().unwrap());
    json!({"aws": aws})
}

fn es(store: &str, kind: &str, key: &str) -> Value {
    json!({
        "refreshInterval": "1h",
        "secretStoreRef": {"name": store, "kind": kind},
        "data": [{"secretKey": "v", "remoteRef": {"key": key}}],
    })
}

#[tokio::test]
async fn session_tags_name_the_externalsecret_namespace_and_the_store_on_every_assume_role() {
    let a = Scene::new("e2e-tags").await;
    let b = Scene { client: a.client.clone(), ns: format!("{}-b", a.ns), class: a.class.clone() };
    create_namespace(&a.client, &b.ns, Default::default()).await;
    let key = format!("{}/tagged", a.ns);
    crate::providers::secrets_manager().await.create_secret().name(&key).secret_string("v1").send().await.unwrap();
    a.plain_secret("aws-creds", &[("id", sesame_testsupport::AWS_ACCESS_KEY_ID), ("secret", sesame_testsupport::AWS_SECRET_ACCESS_KEY)])
        .await;
    a.store("custom", aws(json!({"sessionTagsPolicy": "Custom", "customSessionTags": {"env": "e2e", "empty": ""}}), None)).await;
    // The apiserver under test (1.20) does not run the CRD's CEL rule; the controller refuses too.
    a.store("reserved", aws(json!({"sessionTagsPolicy": "Custom", "customSessionTags": {"esoStoreName": "forged"}}), None)).await;
    let css = format!("tags-{}", a.ns);
    let mut cluster = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": css},
        "spec": {"controller": a.class, "provider": aws(json!({"sessionTagsPolicy": "Simple"}), Some(&a.ns))},
    });
    cluster["spec"]["conditions"] = json!([{"namespaces": [a.ns, b.ns]}]);
    apply(&a.client, "", "clustersecretstores", &css, cluster).await;

    let proxy = proxy::Proxy::start(&sesame_testsupport::env().aws_endpoint).await;
    let sesame = Sesame::start_with_env(
        &a.ns,
        &["--controller-class", &a.class],
        &[("AWS_ENDPOINT_URL", &proxy.url), ("AWS_EC2_METADATA_DISABLED", "true")],
    );
    a.external_secret("own", es("custom", "SecretStore", &key)).await;
    a.external_secret("shared", es(&css, "ClusterSecretStore", &key)).await;
    b.external_secret("shared", es(&css, "ClusterSecretStore", &key)).await;
    a.external_secret("forged", es("reserved", "SecretStore", &key)).await;
    for (scene, name) in [(&a, "own"), (&a, "shared"), (&b, "shared")] {
        wait_secret_data(scene, &sesame, name, &map(&[("v", "v1")])).await;
    }

    let sent: Vec<Vec<(String, String)>> = proxy.of("AssumeRole").iter().map(|e| proxy::sent_tags(&e.request)).collect();
    let custom = pairs(&[("env", "e2e"), ("esoNamespace", &a.ns), ("esoStoreKind", "SecretStore"), ("esoStoreName", "custom")]);
    assert!(sent.contains(&custom), "no AssumeRole tagged {custom:?}: {sent:?}");
    for ns in [&a.ns, &b.ns] {
        // One client per namespace: each namespace's session says which namespace it is for.
        let simple = pairs(&[("esoNamespace", ns), ("esoStoreKind", "ClusterSecretStore"), ("esoStoreName", &css)]);
        assert!(sent.contains(&simple), "no AssumeRole tagged {simple:?}: {sent:?}");
    }
    assert!(proxy.of("AssumeRole").iter().all(|e| e.request.contains(&format!("RoleArn={ROLE}"))));
    assert!(!sent.iter().flatten().any(|(_, v)| v == "forged"), "a reserved key never reaches STS: {sent:?}");

    let refused = eventually(Duration::from_secs(30), || async {
        a.stores().get("reserved").await.unwrap().status.is_some_and(|s| {
            s.conditions.iter().any(|c| c.status == "False" && c.message.as_deref().is_some_and(|m| m.contains("reserved keys")))
        })
    })
    .await;
    assert!(refused, "the store with a reserved key is not refused\n{}", tail(&sesame.logs()));
    let forged = a.wait_ready(&sesame, "forged", "False", "SecretSyncedError").await;
    assert!(a.secret("forged").await.is_none(), "{:?}", ready_condition(&forged));

    let css_api: kube::Api<sesame::api::ClusterSecretStore> = kube::Api::all(a.client.clone());
    let _ = css_api.delete(&css, &Default::default()).await;
    b.delete_namespace().await;
    a.delete_namespace().await;
}
