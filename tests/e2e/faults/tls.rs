//! Provider TLS is verified by default: a private OpenBao serving HTTPS with a self-signed CA (its
//! `-dev-tls` mode) that no trust store holds. Vault stores without a CA, with the wrong CA, and
//! an AWS endpoint on the same port must fail with a TLS error in the condition (no Secret, no
//! panic); a Vault store given the CA through `caBundle` or `caProvider` syncs.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

use super::private_apiserver::testenv_process;
use super::*;

const VALUE: &str = "TLS-VALUE-8e2d41";

/// A private `bao server -dev -dev-tls` on its own port; killed when dropped.
struct TlsBao {
    child: Child,
    exe: PathBuf,
    dir: PathBuf,
    addr: String,
    token: String,
}

impl TlsBao {
    /// Start it with the same binary as the shared OpenBao and wait until it answers over TLS.
    async fn start() -> TlsBao {
        let (exe, _) = testenv_process("openbao");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join("sesame-e2e").join(format!("bao-tls-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let token = format!("root-tls-{port}");
        let child = Command::new(&exe)
            .args(["server", "-dev", "-dev-tls", "-dev-no-store-token"])
            .arg(format!("-dev-tls-cert-dir={}", dir.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg(format!("-dev-root-token-id={token}"))
            .env("HOME", &dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("bao.log")).unwrap())
            .spawn()
            .expect("start a private OpenBao");
        let bao = TlsBao { child, exe, dir, addr: format!("https://127.0.0.1:{port}"), token };
        let up = eventually(Duration::from_secs(60), || async { bao.cli(&["status"]).is_ok() }).await;
        assert!(
            up,
            "the private TLS OpenBao did not come up:\n{}",
            tail(&std::fs::read_to_string(bao.dir.join("bao.log")).unwrap_or_default())
        );
        // Dev mode normally mounts KV v2 at secret/; make sure (an "already in use" error is fine).
        let _ = bao.cli(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
        bao
    }

    fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join("vault-ca.pem")).expect("the dev-tls CA")
    }

    /// Run the bao CLI against this server, trusting its CA. Output is never printed (values).
    fn cli(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.exe)
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_CACERT", self.dir.join("vault-ca.pem"))
            .env("BAO_TOKEN", &self.token)
            .env("HOME", &self.dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(format!("bao {}: exit {}", args[0], out.status)) }
    }
}

impl Drop for TlsBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a message names the TLS verification failure (rustls / hyper wording).
fn says_tls(message: &str) -> bool {
    let m = message.to_lowercase();
    ["certificate", "unknownissuer", "tls", "handshake"].iter().any(|w| m.contains(w))
}

/// The Ready message of a failed ExternalSecret (it carries its store's reason).
async fn failure(scene: &Scene, name: &str) -> Option<String> {
    let (status, _, message) = ready_condition(&scene.es(name).await)?;
    (status == "False").then_some(message)
}

#[tokio::test]
async fn provider_tls_is_verified_by_default_and_only_the_store_ca_is_trusted() {
    let scene = Scene::new("flt-tls").await;
    let bao = TlsBao::start().await;
    bao.cli(&["kv", "put", "-mount=secret", "app", &format!("v={VALUE}")]).expect("write the remote secret");
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    scene.plain_secret("token", &[("token", &bao.token)]).await;
    scene.plain_secret("ca", &[("ca.crt", &bao.ca_pem())]).await;
    scene
        .plain_secret("aws-creds", &[("id", sesame_testsupport::AWS_ACCESS_KEY_ID), ("secret", sesame_testsupport::AWS_SECRET_ACCESS_KEY)])
        .await;
    let other_ca = std::fs::read_to_string(&sesame_testsupport::env().kube_ca).expect("the apiserver CA");
    let vault = |extra: serde_json::Value| {
        let mut v =
            json!({"server": bao.addr, "path": "secret", "version": "v2", "auth": {"tokenSecretRef": {"name": "token", "key": "token"}}});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"vault": v})
    };
    scene.store("no-ca", vault(json!({}))).await;
    scene.store("wrong-ca", vault(json!({"caBundle": b64(&other_ca)}))).await;
    scene.store("ca-bundle", vault(json!({"caBundle": b64(&bao.ca_pem())}))).await;
    scene.store("ca-provider", vault(json!({"caProvider": {"type": "Secret", "name": "ca", "key": "ca.crt"}}))).await;
    let auth = json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
    }});
    let region = sesame_testsupport::env().aws_region.clone();
    scene.store("aws", json!({"aws": {"service": "SecretsManager", "region": region, "auth": auth}})).await;
    // The AWS SDK is pointed at the TLS OpenBao: the handshake must fail before any request.
    let sesame = scene.sesame_with(&[], &[("AWS_ENDPOINT_URL", &bao.addr), ("AWS_EC2_METADATA_DISABLED", "true")]);
    let stores = ["no-ca", "wrong-ca", "aws", "ca-bundle", "ca-provider"];
    for store in stores {
        let remote = if store == "aws" { json!({"key": "app"}) } else { json!({"key": "app", "property": "v"}) };
        let spec = json!({"refreshInterval": "1h", "secretStoreRef": {"name": store}, "data": [{"secretKey": "v", "remoteRef": remote}]});
        scene.external_secret(store, spec).await;
    }
    for store in ["ca-bundle", "ca-provider"] {
        wait_secret_data(&scene, &sesame, store, &map(&[("v", VALUE)])).await;
    }
    let mut texts = Vec::new();
    for store in ["no-ca", "wrong-ca", "aws"] {
        let found = eventually(Duration::from_secs(60), || async { failure(&scene, store).await.is_some_and(|m| says_tls(&m)) }).await;
        let message = failure(&scene, store).await;
        assert!(
            found,
            "{store}: want Ready=False with a TLS error, got {message:?} / {:?}\n{}",
            ready_condition(&scene.es(store).await),
            tail(&sesame.logs())
        );
        assert!(scene.secret(store).await.is_none(), "{store}: a Secret was written over an unverified connection");
        println!("faults tls: {store}: {}", message.clone().unwrap_or_default());
        texts.push(message.unwrap_or_default());
        texts.extend(events_for(&scene.client, &scene.ns, store).await.into_iter().map(|e| e.2));
    }
    let leaks = texts.iter().filter(|t| t.contains(VALUE)).count();
    let log = sesame.logs();
    println!(
        "faults tls: 3 unverifiable endpoints refused, 2 stores trusted through caBundle/caProvider; {} texts checked, {leaks} leaks, log leak: {}",
        texts.len(),
        log.contains(VALUE)
    );
    assert!(leaks == 0 && !log.contains(VALUE), "the value leaked");
    assert!(!log.contains("panicked"), "sesame panicked\n{}", tail(&log));
    scene.delete_namespace().await;
}
