use std::fmt;

/// Bytes read from a provider. `Debug` never shows them, so a stray `{:?}` in a log line or an
/// error cannot leak a secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretValue(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretValue {
    fn from(v: Vec<u8>) -> Self {
        SecretValue(v)
    }
}

impl From<String> for SecretValue {
    fn from(v: String) -> Self {
        SecretValue(v.into_bytes())
    }
}

impl From<&str> for SecretValue {
    fn from(v: &str) -> Self {
        SecretValue(v.as_bytes().to_vec())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_value() {
        let v = SecretValue::from("hunter2");
        let shown = format!("{v:?}");
        assert!(!shown.contains("hunter2"));
        assert_eq!(shown, "SecretValue(<7 bytes redacted>)");
    }
}
