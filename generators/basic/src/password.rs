//! `Password`: random passwords with exact counts of digits and symbols, as ESO (which uses
//! sethvargo/go-password): letters fill the rest, the classes are shuffled together, and
//! `allowRepeat: false` means no character appears twice in one password.
use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use rand::RngExt;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sesame_generator_core::{Generated, Generator, GeneratorContext, GeneratorError};

/// ESO's default symbol set.
pub const DEFAULT_SYMBOL_CHARACTERS: &str = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./";
const DEFAULT_LENGTH: i64 = 24;
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
/// Bounds on tenant input (not in ESO): a password this long is already absurd.
const MAX_LENGTH: i64 = 4096;
const MAX_SYMBOL_CHARACTERS: usize = 1024;
const MAX_SECRET_KEYS: usize = 64;

/// PasswordSpec controls the behavior of the password generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Length of the password to be generated. Defaults to 24 (also when 0 or negative).
    #[serde(default = "default_length")]
    pub length: i64,
    /// The number of digits in the generated password. If omitted it defaults to 25% of the
    /// length of the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i64>,
    /// The number of symbol characters in the generated password. If omitted it defaults to 25%
    /// of the length of the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbols: Option<i64>,
    /// The special characters that should be used in the generated password. Defaults to
    /// ``~!@#$%^&*()_+`-={}|[]\:"<>?,./`` (also when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_characters: Option<String>,
    /// Set NoUpper to disable uppercase characters.
    #[serde(default)]
    pub no_upper: bool,
    /// Set AllowRepeat to true to allow repeating characters.
    #[serde(default)]
    pub allow_repeat: bool,
    /// The keys that will be populated with generated passwords, each with its own password.
    /// Defaults to `password` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub secret_keys: Option<Vec<String>>,
    /// The encoding of the generated password: `raw` (default, no encoding), `base64` (standard
    /// base64), `base64url`, `base32` or `hex`.
    #[serde(default)]
    pub encoding: PasswordEncoding,
}

fn default_length() -> i64 {
    DEFAULT_LENGTH
}

impl Default for PasswordSpec {
    fn default() -> Self {
        PasswordSpec {
            length: DEFAULT_LENGTH,
            digits: None,
            symbols: None,
            symbol_characters: None,
            no_upper: false,
            allow_repeat: false,
            secret_keys: None,
            encoding: PasswordEncoding::Raw,
        }
    }
}

/// How a generated password is encoded in the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PasswordEncoding {
    /// Standard base64, padded.
    Base64,
    /// URL-safe base64, padded.
    Base64url,
    /// Standard base32, padded.
    Base32,
    /// Lowercase hexadecimal.
    Hex,
    /// The password as is.
    #[default]
    Raw,
}

/// The Password generator, with its spec resolved and checked.
#[derive(Debug, Clone)]
pub struct Password {
    keys: Vec<String>,
    letters: usize,
    digits: usize,
    symbols: usize,
    letter_set: Vec<char>,
    symbol_set: Vec<char>,
    allow_repeat: bool,
    encoding: PasswordEncoding,
}

impl Password {
    pub fn new(spec: PasswordSpec) -> Result<Self, GeneratorError> {
        let invalid = |m: String| GeneratorError::Invalid(format!("Password: {m}"));
        let length = if spec.length > 0 { spec.length } else { DEFAULT_LENGTH };
        if length > MAX_LENGTH {
            return Err(invalid(format!("length {length} exceeds the maximum of {MAX_LENGTH}")));
        }
        let count = |field: &str, value: Option<i64>| match value {
            None => Ok(length / 4),
            Some(n) if n < 0 => Err(invalid(format!("{field} must not be negative (got {n})"))),
            Some(n) => Ok(n),
        };
        let (digits, symbols) = (count("digits", spec.digits)?, count("symbols", spec.symbols)?);
        let letters = length - digits - symbols;
        if letters < 0 {
            return Err(invalid(format!("digits ({digits}) plus symbols ({symbols}) exceed the length ({length})")));
        }
        let symbol_chars = match spec.symbol_characters.as_deref() {
            None | Some("") => DEFAULT_SYMBOL_CHARACTERS,
            Some(s) => s,
        };
        if symbol_chars.chars().count() > MAX_SYMBOL_CHARACTERS {
            return Err(invalid(format!("symbolCharacters has more than {MAX_SYMBOL_CHARACTERS} characters")));
        }
        let mut letter_set: Vec<char> = LOWER.chars().collect();
        if !spec.no_upper {
            letter_set.extend(UPPER.chars());
        }
        let symbol_set: Vec<char> = symbol_chars.chars().collect::<BTreeSet<_>>().into_iter().collect();
        let (letters, digits, symbols) = (letters as usize, digits as usize, symbols as usize);
        if !spec.allow_repeat {
            let over = |class: &str, wanted: usize, available: usize| {
                invalid(format!(
                    "{wanted} {class} requested without repeats, but only {available} distinct ones are available (set allowRepeat)"
                ))
            };
            if letters > letter_set.len() {
                return Err(over("letters", letters, letter_set.len()));
            }
            if digits > DIGITS.len() {
                return Err(over("digits", digits, DIGITS.len()));
            }
            // Custom symbols may overlap letters or digits: in the worst case the letters and
            // digits drawn first use up every shared character, and the spec must still work.
            let shared = |set: &[char]| symbol_set.iter().filter(|c| set.contains(c)).count();
            let digit_set: Vec<char> = DIGITS.chars().collect();
            let worst = symbol_set.len() - shared(&letter_set).min(letters) - shared(&digit_set).min(digits);
            if symbols > worst {
                return Err(over("symbols", symbols, worst));
            }
        } else if symbols > 0 && symbol_set.is_empty() {
            return Err(invalid("no symbol characters to draw from".into()));
        }
        let keys = match spec.secret_keys {
            None => vec!["password".to_string()],
            Some(keys) => {
                let unique: BTreeSet<&String> = keys.iter().collect();
                if keys.is_empty() || keys.iter().any(String::is_empty) || unique.len() != keys.len() {
                    return Err(invalid("secretKeys must be non-empty and unique".into()));
                }
                if keys.len() > MAX_SECRET_KEYS {
                    return Err(invalid(format!("secretKeys has more than {MAX_SECRET_KEYS} entries")));
                }
                keys
            }
        };
        Ok(Password { keys, letters, digits, symbols, letter_set, symbol_set, allow_repeat: spec.allow_repeat, encoding: spec.encoding })
    }

    /// One password, unencoded.
    fn draw(&self) -> Result<String, GeneratorError> {
        let mut rng = rand::rng();
        let mut out: Vec<char> = Vec::with_capacity(self.letters + self.digits + self.symbols);
        let digit_set: Vec<char> = DIGITS.chars().collect();
        for (set, n) in [(&self.letter_set, self.letters), (&digit_set, self.digits), (&self.symbol_set, self.symbols)] {
            for _ in 0..n {
                let c = if self.allow_repeat {
                    set[rng.random_range(0..set.len())]
                } else {
                    let unused: Vec<char> = set.iter().copied().filter(|c| !out.contains(c)).collect();
                    if unused.is_empty() {
                        // Checked in `new` for overlapping sets; kept as an error, never a panic.
                        return Err(GeneratorError::Invalid(
                            "Password: not enough distinct characters for a password without repeats".into(),
                        ));
                    }
                    unused[rng.random_range(0..unused.len())]
                };
                out.push(c);
            }
        }
        // A uniform shuffle places digits and symbols anywhere, as go-password's random inserts.
        out.shuffle(&mut rng);
        Ok(out.into_iter().collect())
    }
}

fn encode(raw: String, encoding: PasswordEncoding) -> Vec<u8> {
    use data_encoding::{BASE32, BASE64, BASE64URL, HEXLOWER};
    let bytes = raw.as_bytes();
    match encoding {
        PasswordEncoding::Raw => raw.into_bytes(),
        PasswordEncoding::Base64 => BASE64.encode(bytes).into_bytes(),
        PasswordEncoding::Base64url => BASE64URL.encode(bytes).into_bytes(),
        PasswordEncoding::Base32 => BASE32.encode(bytes).into_bytes(),
        PasswordEncoding::Hex => HEXLOWER.encode(bytes).into_bytes(),
    }
}

#[async_trait]
impl Generator for Password {
    fn kind(&self) -> &'static str {
        "Password"
    }

    async fn generate(&self, _ctx: &GeneratorContext) -> Result<Generated, GeneratorError> {
        let mut data = BTreeMap::new();
        for key in &self.keys {
            data.insert(key.clone(), encode(self.draw()?, self.encoding));
        }
        Ok(Generated { data, state: None })
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
