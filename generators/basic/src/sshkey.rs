//! `SSHKey`: a fresh key pair on every call, as ESO: `privateKey` in OpenSSH's own PEM format
//! (unencrypted) and `publicKey` as one `authorized_keys` line (with the comment, newline-ended).
use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::{EcdsaCurve, LineEnding, PrivateKey};

const DEFAULT_RSA_BITS: u32 = 2048;
/// RSA below 1024 bits is refused by ESO's Go runtime too; above 8192 (ESO's schema maximum)
/// generation costs too much CPU to offer a tenant.
const RSA_BITS: std::ops::RangeInclusive<u32> = 1024..=8192;
const MAX_COMMENT: usize = 1024;

/// SSHKeySpec controls the behavior of the ssh key generator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SshKeySpec {
    /// KeyType specifies the SSH key type (rsa, ecdsa, ed25519). Defaults to rsa.
    #[serde(default)]
    pub key_type: SshKeyType,
    /// KeySize specifies the key size for RSA keys (default: 2048) and ECDSA keys (default: 256).
    /// For RSA keys: 2048, 3072, 4096. For ECDSA keys: 256, 384, 521 (any other size means 256).
    /// Ignored for ed25519 keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 256, max = 8192))]
    pub key_size: Option<u32>,
    /// Comment specifies an optional comment for the SSH key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// An SSH key algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SshKeyType {
    /// RSA (`ssh-rsa`).
    #[default]
    Rsa,
    /// ECDSA on a NIST curve (`ecdsa-sha2-nistp256` / `-nistp384` / `-nistp521`).
    Ecdsa,
    /// Ed25519 (`ssh-ed25519`).
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Rsa(u32),
    Ecdsa(EcdsaCurve),
    Ed25519,
}

/// The SSHKey generator.
#[derive(Debug, Clone)]
pub struct SshKey {
    algorithm: Algorithm,
    comment: String,
}

impl SshKey {
    pub fn new(spec: SshKeySpec) -> Result<Self, GeneratorError> {
        let invalid = |m: String| GeneratorError::Invalid(format!("SSHKey: {m}"));
        let algorithm = match spec.key_type {
            SshKeyType::Rsa => {
                let bits = spec.key_size.unwrap_or(DEFAULT_RSA_BITS);
                if !RSA_BITS.contains(&bits) {
                    return Err(invalid(format!("keySize {bits} is out of range for rsa ({}..={})", RSA_BITS.start(), RSA_BITS.end())));
                }
                Algorithm::Rsa(bits)
            }
            SshKeyType::Ecdsa => Algorithm::Ecdsa(match spec.key_size {
                Some(384) => EcdsaCurve::NistP384,
                Some(521) => EcdsaCurve::NistP521,
                _ => EcdsaCurve::NistP256,
            }),
            SshKeyType::Ed25519 => Algorithm::Ed25519,
        };
        if spec.comment.len() > MAX_COMMENT {
            return Err(invalid(format!("comment is longer than {MAX_COMMENT} bytes")));
        }
        // A line break would split the authorized_keys line.
        if spec.comment.contains(['\n', '\r']) {
            return Err(invalid("comment must be one line".into()));
        }
        Ok(SshKey { algorithm, comment: spec.comment })
    }
}

fn generate_pair(algorithm: Algorithm, comment: &str) -> Result<(Vec<u8>, Vec<u8>), GeneratorError> {
    let failed = |what: &str, e: ssh_key::Error| GeneratorError::Invalid(format!("SSHKey: failed to {what}: {e}"));
    let mut rng = rand::rng();
    let pair = match algorithm {
        Algorithm::Rsa(bits) => {
            KeypairData::from(RsaKeypair::random(&mut rng, bits as usize).map_err(|e| failed("generate the rsa key", e))?)
        }
        Algorithm::Ecdsa(curve) => {
            KeypairData::from(EcdsaKeypair::random(&mut rng, curve).map_err(|e| failed("generate the ecdsa key", e))?)
        }
        Algorithm::Ed25519 => KeypairData::from(Ed25519Keypair::random(&mut rng)),
    };
    let key = PrivateKey::new(pair, comment).map_err(|e| failed("build the key", e))?;
    let private = key.to_openssh(LineEnding::LF).map_err(|e| failed("encode the private key", e))?;
    let mut public = key.public_key().to_openssh().map_err(|e| failed("encode the public key", e))?;
    public.push('\n');
    Ok((private.as_bytes().to_vec(), public.into_bytes()))
}

#[async_trait]
impl Generator for SshKey {
    fn kind(&self) -> &'static str {
        "SSHKey"
    }

    async fn generate(&self, _ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        // RSA generation takes up to seconds: off the async workers.
        let (algorithm, comment) = (self.algorithm, self.comment.clone());
        let (private, public) = tokio::task::spawn_blocking(move || generate_pair(algorithm, &comment))
            .await
            .map_err(|_| GeneratorError::Transient("SSHKey: key generation was interrupted".into()))??;
        let data = BTreeMap::from([("privateKey".to_string(), private), ("publicKey".to_string(), public)]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
#[path = "sshkey_tests.rs"]
mod tests;
