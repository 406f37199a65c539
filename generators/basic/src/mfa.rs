//! `MFA`: a TOTP code (RFC 6238) from a base32 seed kept in a Secret, as ESO: outputs `token`
//! and `timeLeft` (seconds until the code changes).
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};
use sesame_provider_core::SecretKeySelector;

use crate::totp::{TotpAlgorithm, totp};

const DEFAULT_LENGTH: u32 = 6;
const DEFAULT_PERIOD: u64 = 30;
/// A 31-bit HOTP value has at most 10 digits; more would only be zero padding.
const MAX_LENGTH: i64 = 10;
/// Bounds on tenant input: seeds are 10 to 64 bytes in practice.
const MAX_SEED_CHARS: usize = 1024;
const MAX_PERIOD: i64 = 24 * 3600;

/// MFASpec controls the behavior of the mfa generator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaSpec {
    /// Secret is a secret selector to a secret containing the seed secret to generate the TOTP
    /// value from (base32, as authenticator apps show it; spaces and case do not matter).
    pub secret: SecretKeySelector,
    /// Length defines the token length. Defaults to 6 characters.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub length: i64,
    /// TimePeriod defines how long the token can be active. Defaults to 30 seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub time_period: i64,
    /// Algorithm to use for encoding: `sha1`, `sha256`, `sha384`, `sha512` or `sha512_256`.
    /// Defaults to SHA1 as per the RFC.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub algorithm: String,
    /// When defines a time parameter that can be used to pin the origin time of the generated
    /// token (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub when: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The MFA generator.
#[derive(Debug, Clone)]
pub struct Mfa {
    secret: SecretKeySelector,
    length: u32,
    period: u64,
    algorithm: TotpAlgorithm,
    when: Option<u64>,
}

impl Mfa {
    pub fn new(spec: MfaSpec) -> Result<Self, GeneratorError> {
        let invalid = |m: String| GeneratorError::Invalid(format!("MFA: {m}"));
        if spec.secret.name.is_empty() || spec.secret.key.as_deref().unwrap_or_default().is_empty() {
            return Err(invalid("secret.name and secret.key are required".into()));
        }
        // ESO: zero or negative means the default.
        let length = match spec.length {
            n if n <= 0 => DEFAULT_LENGTH,
            n if n > MAX_LENGTH => return Err(invalid(format!("length {n} exceeds the maximum of {MAX_LENGTH} digits"))),
            n => n as u32,
        };
        let period = match spec.time_period {
            n if n <= 0 => DEFAULT_PERIOD,
            n if n > MAX_PERIOD => return Err(invalid(format!("timePeriod {n} exceeds the maximum of {MAX_PERIOD} seconds"))),
            n => n as u64,
        };
        let algorithm = match spec.algorithm.as_str() {
            "" => TotpAlgorithm::Sha1,
            name => TotpAlgorithm::parse(name)
                .ok_or_else(|| invalid(format!("algorithm {name:?} is not one of sha1, sha256, sha384, sha512, sha512_256")))?,
        };
        let when = match spec.when.as_deref() {
            None => None,
            Some(t) => {
                let at = chrono::DateTime::parse_from_rfc3339(t).map_err(|_| invalid(format!("when {t:?} is not an RFC 3339 time")))?;
                Some(u64::try_from(at.timestamp()).map_err(|_| invalid(format!("when {t:?} is before 1970")))?)
            }
        };
        Ok(Mfa { secret: spec.secret, length, period, algorithm, when })
    }

    /// The seed bytes from the Secret's base32 text. Errors never show the text.
    fn seed(&self, text: &[u8]) -> Result<Vec<u8>, GeneratorError> {
        let bad = |why: &str| {
            let key = self.secret.key.as_deref().unwrap_or_default();
            GeneratorError::Invalid(format!("MFA: the seed in Secret {} key {key} {why}", self.secret.name))
        };
        if text.len() > MAX_SEED_CHARS {
            return Err(bad(&format!("is longer than {MAX_SEED_CHARS} characters")));
        }
        // Authenticator seeds are shown in groups and sometimes lowercase or padded.
        let cleaned: Vec<u8> = text.iter().filter(|b| !matches!(b, b' ' | b'=')).map(u8::to_ascii_uppercase).collect();
        let mut spec = data_encoding::BASE32_NOPAD.specification();
        spec.check_trailing_bits = false;
        let encoding = spec.encoding().map_err(|_| bad("cannot be decoded"))?;
        let seed = encoding.decode(&cleaned).map_err(|_| bad("is not valid base32"))?;
        if seed.is_empty() {
            return Err(bad("is empty"));
        }
        Ok(seed)
    }
}

#[async_trait]
impl Generator for Mfa {
    fn kind(&self) -> &'static str {
        "MFA"
    }

    async fn generate(&self, ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let text = ctx.provider.credentials.secret_key(&self.secret, None).await?;
        let seed = self.seed(text.as_bytes())?;
        let now = match self.when {
            Some(t) => t,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|_| GeneratorError::Transient("MFA: the clock is before 1970".into()))?
                .as_secs(),
        };
        let (token, left) = totp(&seed, self.algorithm, now, self.period, self.length);
        let data = BTreeMap::from([("token".to_string(), token.into_bytes()), ("timeLeft".to_string(), left.to_string().into_bytes())]);
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
#[path = "mfa_tests.rs"]
mod tests;
