//! PushSecret of keys (`key/NAME`) and certificates (`cert/NAME`) on the fake Key Vault, as ESO
//! 2.9 pushes them: a PEM private key becomes an imported JWK, a PEM certificate with its key or
//! a password-less PKCS#12 an imported certificate, both tagged `managed-by: external-secrets`;
//! the same key or leaf imports nothing; an unmanaged object is never touched; delete is a soft
//! delete of exactly what was pushed; bad values are clear errors naming no byte of the value.
#![cfg(feature = "client")]
mod fake;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fake::support::service_principal_store;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use pkcs8::der::Decode;
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use serde_json::{Value, json};
use sesame_provider_core::{PushRef, RemoteKey};

fn pem(label: &str, der: &[u8]) -> String {
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", STANDARD.encode(der))
}

/// A cert-manager-style TLS pair: the certificate and its RSA key in PKCS#1 (`RSA PRIVATE KEY`),
/// cert-manager's default encoding.
struct Tls {
    cert_der: Vec<u8>,
    key_pkcs8: Vec<u8>,
}

impl Tls {
    fn new(cn: &str) -> Tls {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
        let cert = CertificateParams::new(vec![cn.to_string()]).unwrap().self_signed(&key).unwrap();
        Tls { cert_der: cert.der().to_vec(), key_pkcs8: key.serialize_der() }
    }

    fn key_pkcs1_pem(&self) -> String {
        let info = pkcs8::PrivateKeyInfoRef::from_der(&self.key_pkcs8).unwrap();
        pem("RSA PRIVATE KEY", info.private_key.as_bytes())
    }

    /// `tls.crt` followed by `tls.key`, as a PushSecret template joins them.
    fn pem_bundle(&self) -> Vec<u8> {
        format!("{}{}", pem("CERTIFICATE", &self.cert_der), self.key_pkcs1_pem()).into_bytes()
    }

    fn pkcs12(&self, password: &str) -> Vec<u8> {
        let cert = Certificate::from_der(&self.cert_der).unwrap();
        let key = PrivateKey::from_der(&self.key_pkcs8).unwrap();
        let mut store = KeyStore::new();
        store.add_entry("1", KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(vec![1u8; 20], key, vec![cert])));
        store.writer(password).write().unwrap()
    }
}

fn writes(fake: &fake::Fake) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.host != fake::LOGIN_HOST)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn with_tags(key: &str, tags: Value) -> PushRef {
    PushRef {
        metadata: Some(
            json!({"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata", "spec": {"tags": tags}}),
        ),
        ..PushRef::new(key, None)
    }
}

#[tokio::test]
async fn a_pem_private_key_is_imported_as_a_managed_jwk_once() {
    let (fake, client, calls) = service_principal_store().await;
    let tls = Tls::new("signing.example");
    let rsa = with_tags("key/signing", json!({"team": "payments"}));
    assert!(!client.secret_exists(&rsa).await.unwrap());

    client.push_secret(&rsa, tls.key_pkcs1_pem().as_bytes()).await.unwrap();
    client.push_secret(&rsa, pem("PRIVATE KEY", &tls.key_pkcs8).as_bytes()).await.unwrap();
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    client.push_secret(&PushRef::new("key/ec", None), ec.serialize_pem().as_bytes()).await.unwrap();

    {
        let state = fake.state();
        assert_eq!(state.keys["signing"].len(), 1, "the same key in PKCS#1 then PKCS#8 imports once");
        let stored = &state.keys["signing"][0];
        assert_eq!(stored.tags.get("managed-by").map(String::as_str), Some("external-secrets"));
        assert_eq!(stored.tags.get("team").map(String::as_str), Some("payments"));
        assert_eq!(state.keys["ec"][0].key.as_ref().unwrap()["crv"], "P-256");
    }
    assert_eq!(calls.names().iter().filter(|c| *c == "ImportKey").count(), 2);
    let read: Value = serde_json::from_slice(&client.get_secret(&RemoteKey::new("key/signing")).await.unwrap().into_bytes()).unwrap();
    assert_eq!(read["kty"], "RSA");
    assert!(read.get("d").is_none(), "the vault answers the public half only");
    assert!(client.secret_exists(&rsa).await.unwrap());

    client.push_secret(&rsa, Tls::new("rotated").key_pkcs1_pem().as_bytes()).await.unwrap();
    assert_eq!(fake.state().keys["signing"].len(), 2, "a new key is a new version");
}

#[tokio::test]
async fn a_tls_secret_in_pem_is_imported_as_a_certificate_with_its_key_in_pkcs8() {
    let (fake, client, _) = service_principal_store().await;
    let tls = Tls::new("app.example");
    let remote = PushRef::new("cert/app-tls", None);
    client.push_secret(&remote, &tls.pem_bundle()).await.unwrap();
    client.push_secret(&remote, &tls.pem_bundle()).await.unwrap();
    assert_eq!(fake.state().certs["app-tls"].len(), 1, "the same leaf imports nothing");
    assert_eq!(client.get_secret(&RemoteKey::new("cert/app-tls")).await.unwrap().into_bytes(), tls.cert_der);
    assert_eq!(fake.state().certs["app-tls"][0].tags.get("managed-by").map(String::as_str), Some("external-secrets"));

    let renewed = Tls::new("app.example");
    client.push_secret(&remote, &renewed.pem_bundle()).await.unwrap();
    assert_eq!(client.get_secret(&RemoteKey::new("cert/app-tls")).await.unwrap().into_bytes(), renewed.cert_der);
    assert_eq!(writes(&fake).len(), 2);
}

#[tokio::test]
async fn an_ec_certificate_with_a_sec1_key_is_imported_with_the_key_in_pkcs8() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let (fake, client, _) = service_principal_store().await;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec!["ec.example".to_string()]).unwrap().self_signed(&key).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der()).unwrap();
    let sec1 = pair.private_key().as_der().unwrap();
    let bundle = format!("{}{}", pem("EC PRIVATE KEY", sec1.as_ref()), pem("CERTIFICATE", cert.der()));
    client.push_secret(&PushRef::new("cert/ec", None), bundle.as_bytes()).await.unwrap();
    assert_eq!(client.get_secret(&RemoteKey::new("cert/ec")).await.unwrap().into_bytes(), cert.der().to_vec());
    assert_eq!(writes(&fake).len(), 1);
}

#[tokio::test]
async fn a_password_less_pkcs12_is_imported_and_a_protected_one_is_refused() {
    let (fake, client, _) = service_principal_store().await;
    let tls = Tls::new("p12.example");
    client.push_secret(&PushRef::new("cert/p12", None), &tls.pkcs12("")).await.unwrap();
    assert_eq!(client.get_secret(&RemoteKey::new("cert/p12")).await.unwrap().into_bytes(), tls.cert_der);

    let err = client.push_secret(&PushRef::new("cert/locked", None), &tls.pkcs12("s3cret")).await.unwrap_err().to_string();
    assert!(err.contains("certificate locked") && err.contains("password-protected"), "{err}");
    assert_eq!(writes(&fake).len(), 1);
}

#[tokio::test]
async fn an_unmanaged_key_or_certificate_is_refused_and_never_deleted() {
    let (fake, client, _) = service_principal_store().await;
    let tls = Tls::new("theirs.example");
    fake.put_key("theirs", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), &[("owner", "team-a")]);
    fake.put_cert("theirs", &tls.cert_der, &[]);
    let ours = Tls::new("ours.example");
    for (remote, value) in [("key/theirs", ours.key_pkcs1_pem().into_bytes()), ("cert/theirs", ours.pem_bundle())] {
        let err = client.push_secret(&PushRef::new(remote, None), &value).await.unwrap_err().to_string();
        assert!(err.contains("not managed by external-secrets"), "{err}");
        client.delete_secret(&PushRef::new(remote, None)).await.unwrap();
    }
    assert!(writes(&fake).is_empty(), "only reads went out: {:?}", writes(&fake));
    assert_eq!(fake.state().keys["theirs"].len(), 1);
    assert_eq!(fake.state().certs["theirs"].len(), 1);
}

#[tokio::test]
async fn delete_soft_deletes_exactly_the_pushed_key_and_certificate() {
    let (fake, client, _) = service_principal_store().await;
    let tls = Tls::new("gone.example");
    client.push_secret(&PushRef::new("key/gone-key", None), tls.key_pkcs1_pem().as_bytes()).await.unwrap();
    client.push_secret(&PushRef::new("cert/gone-cert", None), &tls.pem_bundle()).await.unwrap();
    client.push_secret(&PushRef::new("kept", None), b"pushed too, not deleted").await.unwrap();
    for remote in ["key/gone-key", "cert/gone-cert", "key/gone-key"] {
        client.delete_secret(&PushRef::new(remote, None)).await.unwrap();
        assert!(!client.secret_exists(&PushRef::new(remote, None)).await.unwrap());
    }
    let state = fake.state();
    assert!(state.deleted_keys.contains_key("gone-key") && state.deleted_certs.contains_key("gone-cert"), "recoverable, never purged");
    assert!(state.secrets.contains_key("kept"));
    assert_eq!(state.log.iter().filter(|r| r.method == "DELETE").count(), 2);
}

#[tokio::test]
async fn bad_values_are_clear_errors_that_name_no_value_and_never_reach_the_vault() {
    let (fake, client, _) = service_principal_store().await;
    let tls = Tls::new("bad.example");
    let hidden = "c2VjcmV0LXZhbHVl";
    let garbage = format!("-----BEGIN RSA PRIVATE KEY-----\n{hidden}\n-----END RSA PRIVATE KEY-----\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("key/k", garbage.clone().into_bytes(), "malformed RSA private key"),
        ("key/k", vec![b'x'; 200 * 1024], "over the"),
        ("cert/c", garbage.into_bytes(), "malformed or unusable RSA PRIVATE KEY"),
        ("cert/c", tls.key_pkcs1_pem().into_bytes(), "no PEM CERTIFICATE"),
        ("cert/c", format!("-----BEGIN CERTIFICATE-----\n{hidden}\n-----END CERTIFICATE-----\n").into_bytes(), "malformed PEM CERTIFICATE"),
        ("cert/c", pem("CERTIFICATE", &tls.cert_der).into_bytes(), "no PEM private key"),
        ("cert/c", tls.cert_der.clone(), "without its private key"),
        ("cert/c", hidden.as_bytes().to_vec(), "neither PKCS#12, DER nor PEM"),
        ("cert/c", vec![b'x'; 200 * 1024], "over the"),
    ];
    for (remote, value, why) in cases {
        let err = client.push_secret(&PushRef::new(remote, None), &value).await.unwrap_err().to_string();
        assert!(err.contains(why) && !err.contains(hidden), "{remote}: {err}");
    }
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));

    // Bytes that are no PEM are a symmetric key, as in ESO; a standard vault refuses those itself.
    let err = client.push_secret(&PushRef::new("key/k", None), hidden.as_bytes()).await.unwrap_err().to_string();
    assert!(err.contains("ImportKey") && err.contains("Managed HSM") && !err.contains(hidden), "{err}");
}
