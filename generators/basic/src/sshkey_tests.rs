use std::process::Command;

use ssh_key::{Algorithm as Alg, PublicKey};

use super::*;
use crate::testctx::ctx;

fn spec(json: &str) -> SshKeySpec {
    serde_json::from_str(json).unwrap()
}

/// Generates a pair and checks it the way OpenSSH would read it: the private key parses, the
/// public line parses, and the public line is the private key's own public half.
async fn pair(json: &str) -> (PrivateKey, PublicKey, String) {
    let out = SshKey::new(spec(json)).unwrap().generate(&ctx()).await.unwrap();
    assert_eq!(out.data.keys().collect::<Vec<_>>(), ["privateKey", "publicKey"]);
    let private_pem = String::from_utf8(out.data["privateKey"].clone()).unwrap();
    assert!(private_pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "{private_pem}");
    let private = PrivateKey::from_openssh(&private_pem).unwrap();
    assert!(!private.is_encrypted());
    let line = String::from_utf8(out.data["publicKey"].clone()).unwrap();
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
    let public = PublicKey::from_openssh(line.trim_end()).unwrap();
    assert_eq!(public.key_data(), private.public_key().key_data(), "the public key is not the private key's");
    (private, public, line)
}

#[tokio::test]
async fn defaults_to_a_2048_bit_rsa_key() {
    let (private, public, line) = pair("{}").await;
    assert_eq!(private.algorithm(), Alg::Rsa { hash: None });
    assert_eq!(private.key_data().rsa().unwrap().key_size(), 2048);
    assert!(line.starts_with("ssh-rsa AAAA"));
    assert_eq!(public.comment().as_bytes(), b"");
}

#[tokio::test]
async fn rsa_key_size_and_comment_are_honoured() {
    let (private, public, line) = pair(r#"{"keyType":"rsa","keySize":3072,"comment":"deploy@ci"}"#).await;
    assert_eq!(private.key_data().rsa().unwrap().key_size(), 3072);
    assert_eq!(private.comment().as_bytes(), b"deploy@ci");
    assert_eq!(public.comment().as_bytes(), b"deploy@ci");
    assert!(line.ends_with(" deploy@ci\n"), "{line}");
}

#[tokio::test]
async fn ed25519_keys_ignore_key_size() {
    let (private, _, line) = pair(r#"{"keyType":"ed25519","keySize":4096,"comment":"me"}"#).await;
    assert_eq!(private.algorithm(), Alg::Ed25519);
    assert!(line.starts_with("ssh-ed25519 AAAA") && line.ends_with(" me\n"), "{line}");
}

#[tokio::test]
async fn ecdsa_curves_follow_key_size_and_default_to_p256() {
    for (size, curve) in [
        ("", EcdsaCurve::NistP256),
        (r#","keySize":384"#, EcdsaCurve::NistP384),
        (r#","keySize":521"#, EcdsaCurve::NistP521),
        (r#","keySize":1000"#, EcdsaCurve::NistP256),
    ] {
        let (private, _, _) = pair(&format!(r#"{{"keyType":"ecdsa"{size}}}"#)).await;
        assert_eq!(private.algorithm(), Alg::Ecdsa { curve }, "{size}");
    }
}

#[tokio::test]
async fn every_call_is_a_new_key() {
    let (a, _, _) = pair(r#"{"keyType":"ed25519"}"#).await;
    let (b, _, _) = pair(r#"{"keyType":"ed25519"}"#).await;
    assert_ne!(a.public_key().key_data(), b.public_key().key_data());
}

/// OpenSSH itself derives the same public key from the private key we wrote.
#[tokio::test]
async fn ssh_keygen_reads_the_private_key() {
    for json in [r#"{"keyType":"ed25519","comment":"c"}"#, r#"{"keyType":"ecdsa"}"#, r#"{"comment":"c"}"#] {
        let out = SshKey::new(spec(json)).unwrap().generate(&ctx()).await.unwrap();
        let dir = std::env::temp_dir().join(format!("sesame-sshkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("id");
        std::fs::write(&file, &out.data["privateKey"]).unwrap();
        // ssh-keygen refuses a private key readable by others.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let derived = Command::new("ssh-keygen").arg("-y").arg("-f").arg(&file).output().expect("ssh-keygen (openssh-client) is needed");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(derived.status.success(), "{}", String::from_utf8_lossy(&derived.stderr));
        let derived = String::from_utf8(derived.stdout).unwrap();
        let ours = String::from_utf8(out.data["publicKey"].clone()).unwrap();
        // Key type and base64 blob are the same (ssh-keygen may print the comment or not).
        let head = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(head(&derived), head(&ours), "{json}");
    }
}

#[test]
fn every_invalid_spec_is_refused_with_its_reason() {
    let cases = [
        (r#"{"keySize":512}"#, "keySize 512 is out of range"),
        (r#"{"keyType":"rsa","keySize":16384}"#, "keySize 16384 is out of range"),
        (r#"{"keyType":"ed25519","comment":"a\nb"}"#, "one line"),
    ];
    for (json, reason) in cases {
        match SshKey::new(spec(json)) {
            Err(GeneratorError::Invalid(m)) => assert!(m.starts_with("SSHKey: ") && m.contains(reason), "{json}: {m}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    let long = SshKeySpec { comment: "c".repeat(MAX_COMMENT + 1), ..Default::default() };
    assert!(matches!(SshKey::new(long), Err(GeneratorError::Invalid(m)) if m.contains("comment")));
    assert!(serde_json::from_str::<SshKeySpec>(r#"{"keyType":"dsa"}"#).is_err());
}

#[test]
fn the_spec_reads_esos_field_names_and_defaults() {
    let s = spec(r#"{"keyType":"ecdsa","keySize":384,"comment":"x"}"#);
    assert_eq!((s.key_type, s.key_size, s.comment.as_str()), (SshKeyType::Ecdsa, Some(384), "x"));
    assert_eq!(spec("{}"), SshKeySpec::default());
    let schema = serde_json::to_value(schemars::schema_for!(SshKeySpec)).unwrap();
    assert_eq!(schema["properties"]["keyType"]["default"], "rsa");
}
