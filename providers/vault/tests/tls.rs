//! TLS on a real OpenBao server: the environment's dev server speaks plain HTTP, so each test here
//! starts its own `bao server -dev` with an extra TLS listener that requires a client
//! certificate from a CA the test makes. Covers CA trust (caBundle, caProvider, verification on
//! by default), mTLS (`tls.certSecretRef` / `keySecretRef`) and the cert auth method.
mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::json;
use sesame_provider_core::{CaProvider, CaProviderKind, ProviderError, RemoteKey};
use sesame_provider_vault::{VaultAuth, VaultCertAuth, VaultClientTls, VaultProvider};

/// PEM certificate and key.
struct Pem {
    cert: String,
    key: String,
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all fresh.
struct Pki {
    ca: String,
    server: Pem,
    client: Pem,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "sesame test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        Pem { cert: p.signed_by(&key, &issuer).unwrap().pem(), key: key.serialize_pem() }
    };
    Pki {
        ca: ca_pem,
        server: leaf(vec!["127.0.0.1".into()], "127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf(vec![], "sesame-client", ExtendedKeyUsagePurpose::ClientAuth),
    }
}

/// The OpenBao binary: `$SESAME_BAO`, else the one `tests/env/testenv setup` installed, else
/// `bao` on PATH.
fn bao_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SESAME_BAO") {
        return p.into();
    }
    let cache = std::env::var_os("SESAME_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/sesame"));
    if let Ok(dirs) = std::fs::read_dir(cache.join("venv")) {
        for dir in dirs.flatten() {
            if let Ok(path) = std::fs::read_to_string(dir.path().join("bao-path")) {
                return PathBuf::from(path.trim());
            }
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("bao")).find(|p| p.is_file()));
    on_path.expect("no OpenBao binary: set SESAME_BAO, run `tests/env/testenv setup`, or put `bao` on PATH")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private OpenBao: plain-HTTP dev listener for the test's admin calls, plus a TLS listener
/// requiring client certificates from the test CA. Killed when dropped.
struct TlsBao {
    child: Child,
    admin: Bao,
    tls_addr: String,
    pki: Pki,
    _dir: TempDir,
}

impl Drop for TlsBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn tls_bao() -> TlsBao {
    let pki = pki();
    let dir = std::env::temp_dir().join(unique("sesame-tls-bao"));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca, cert, key) = (write("ca.pem", &pki.ca), write("srv.pem", &pki.server.cert), write("srv.key", &pki.server.key));
    let (dev_port, tls_port) = (free_port(), free_port());
    let config = format!(
        "listener \"tcp\" {{\n  address = \"127.0.0.1:{tls_port}\"\n  tls_cert_file = \"{cert}\"\n  tls_key_file = \"{key}\"\n  \
         tls_require_and_verify_client_cert = true\n  tls_client_ca_file = \"{ca}\"\n}}\n"
    );
    let config = write("listener.hcl", &config);
    let child = Command::new(bao_binary())
        .args(["server", "-dev", "-dev-root-token-id=root", &format!("-dev-listen-address=127.0.0.1:{dev_port}")])
        .arg(format!("-config={config}"))
        .env("HOME", &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bao server");
    let server = TlsBao {
        child,
        admin: Bao::at(&format!("http://127.0.0.1:{dev_port}"), "root", None),
        tls_addr: format!("https://127.0.0.1:{tls_port}"),
        pki,
        _dir: TempDir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = reqwest::get(format!("{}/v1/sys/health", server.admin.addr)).await.is_ok_and(|r| r.status().is_success());
        if up && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the private OpenBao did not start within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.admin.put2("secret", "app", json!({"v": "over tls"})).await;
    server
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Token auth over TLS, client certificate in Secret `client-tls`.
fn tls_store(server: &TlsBao) -> VaultProvider {
    VaultProvider {
        server: server.tls_addr.clone(),
        path: Some("secret".into()),
        auth: Some(token_auth()),
        ca_bundle: Some(b64(&server.pki.ca)),
        tls: VaultClientTls { cert_secret_ref: Some(sel("client-tls", "tls.crt")), key_secret_ref: Some(sel("client-tls", "tls.key")) },
        ..Default::default()
    }
}

fn tls_creds(server: &TlsBao) -> Creds {
    Creds::with(&[
        ("vault-token", "token", b"root"),
        ("client-tls", "tls.crt", server.pki.client.cert.as_bytes()),
        ("client-tls", "tls.key", server.pki.client.key.as_bytes()),
        ("ca", "ca.crt", server.pki.ca.as_bytes()),
    ])
}

#[tokio::test]
async fn mtls_with_a_trusted_ca_reads_and_verification_is_on_by_default() {
    let server = tls_bao().await;

    let (provider, _) = build(&tls_store(&server), tls_creds(&server)).await;
    let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read over mTLS");
    assert_eq!(json_of(got)["v"], "over tls");
    provider.validate().await.unwrap();

    // caProvider instead of caBundle.
    let mut spec = tls_store(&server);
    spec.ca_bundle = None;
    spec.ca_provider = Some(CaProvider { kind: CaProviderKind::Secret, name: "ca".into(), key: Some("ca.crt".into()), namespace: None });
    let (provider, _) = build(&spec, tls_creds(&server)).await;
    provider.get_secret(&RemoteKey::new("app")).await.expect("read trusting the caProvider CA");

    // No CA: the test CA is not trusted, so the handshake fails.
    let mut spec = tls_store(&server);
    spec.ca_bundle = None;
    let (provider, _) = build(&spec, tls_creds(&server)).await;
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "the message says why: {err}");

    // No client certificate: the server refuses the handshake.
    let mut spec = tls_store(&server);
    spec.tls = VaultClientTls::default();
    let (provider, _) = build(&spec, tls_creds(&server)).await;
    assert!(provider.get_secret(&RemoteKey::new("app")).await.is_err());
}

#[tokio::test]
async fn cert_auth_logs_in_with_the_client_certificate() {
    let server = tls_bao().await;
    let admin = &server.admin;
    let policy = admin.reader_policy("secret").await;
    let mount = admin.auth("cert").await;
    admin
        .must("POST", &format!("auth/{mount}/certs/sesame"), Some(json!({"certificate": server.pki.ca, "token_policies": [policy]})))
        .await;

    let spec = VaultProvider {
        auth: Some(VaultAuth {
            cert: Some(VaultCertAuth {
                path: mount.clone(),
                vault_role: None,
                client_cert: sel("client-tls", "tls.crt"),
                secret_ref: sel("client-tls", "tls.key"),
            }),
            ..Default::default()
        }),
        tls: VaultClientTls::default(),
        ..tls_store(&server)
    };
    let (provider, calls) = build(&spec, tls_creds(&server)).await;
    for _ in 0..5 {
        let got = provider.get_secret(&RemoteKey::new("app")).await.expect("read after cert login");
        assert_eq!(json_of(got)["v"], "over tls");
    }
    provider.validate().await.unwrap();
    assert_eq!(calls.count("Login"), 1);
    assert_eq!(live_logins(admin, &mount).await, 1);
    provider.close().await;
    assert_eq!(live_logins(admin, &mount).await, 0);
}

/// Two roles trust the same CA; only `reader` may read. `vaultRole` is sent as `name`, so the
/// login gets exactly the named role's policies.
#[tokio::test]
async fn cert_auth_logs_in_as_the_vault_role_it_names() {
    let server = tls_bao().await;
    let admin = &server.admin;
    let policy = admin.reader_policy("secret").await;
    let mount = admin.auth("cert").await;
    admin
        .must("POST", &format!("auth/{mount}/certs/reader"), Some(json!({"certificate": server.pki.ca, "token_policies": [policy]})))
        .await;
    admin.must("POST", &format!("auth/{mount}/certs/nobody"), Some(json!({"certificate": server.pki.ca, "token_policies": []}))).await;
    let as_role = |role: &str| VaultProvider {
        auth: Some(VaultAuth {
            cert: Some(VaultCertAuth {
                path: mount.clone(),
                vault_role: Some(role.to_string()),
                client_cert: sel("client-tls", "tls.crt"),
                secret_ref: sel("client-tls", "tls.key"),
            }),
            ..Default::default()
        }),
        tls: VaultClientTls::default(),
        ..tls_store(&server)
    };

    let (reader, calls) = build(&as_role("reader"), tls_creds(&server)).await;
    let got = reader.get_secret(&RemoteKey::new("app")).await.expect("the reader role may read");
    assert_eq!(json_of(got)["v"], "over tls");
    assert_eq!(calls.count("Login"), 1);

    let (nobody, _) = build(&as_role("nobody"), tls_creds(&server)).await;
    let err = nobody.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_) | ProviderError::NotFound(_)), "the nobody role may not read: {err}");

    let (unknown, _) = build(&as_role("no-such-role"), tls_creds(&server)).await;
    let err = unknown.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "an unknown role is a refused login: {err}");
    assert!(err.to_string().contains("as role no-such-role"), "the message names the role: {err}");
}

#[tokio::test]
async fn a_sealed_or_unreachable_server_is_a_transient_error() {
    let server = tls_bao().await;
    let (provider, _) = build(&tls_store(&server), tls_creds(&server)).await;
    provider.get_secret(&RemoteKey::new("app")).await.expect("read while unsealed");
    server.admin.must("PUT", "sys/seal", None).await;
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
    assert!(err.is_retryable());

    let nobody = VaultProvider { server: format!("http://127.0.0.1:{}", free_port()), ..tls_store(&server) };
    let (provider, _) = build(&nobody, tls_creds(&server)).await;
    let err = provider.get_secret(&RemoteKey::new("app")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
}
