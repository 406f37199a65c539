//! RFC 6238 TOTP (RFC 4226 HOTP over a time counter), with the hash functions ESO accepts.
use hmac::{Hmac, KeyInit, Mac};

/// The HMAC hash of a TOTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Sha512_256,
}

impl TotpAlgorithm {
    /// ESO's names: `sha1`, `sha256`, `sha384`, `sha512`, `sha512_256`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sha1" => TotpAlgorithm::Sha1,
            "sha256" => TotpAlgorithm::Sha256,
            "sha384" => TotpAlgorithm::Sha384,
            "sha512" => TotpAlgorithm::Sha512,
            "sha512_256" => TotpAlgorithm::Sha512_256,
            _ => return None,
        })
    }
}

/// HMAC-`$hash`(key, message); HMAC takes keys of any length, so building it cannot fail.
macro_rules! hmac {
    ($hash:ty, $key:expr, $message:expr) => {{
        let mut mac = <Hmac<$hash> as KeyInit>::new_from_slice($key).expect("HMAC accepts any key length");
        mac.update($message);
        mac.finalize().into_bytes().to_vec()
    }};
}

/// The code for `unix_time` (seconds) with `digits` digits (1..=10, zero-padded) and the seconds
/// left in its period.
pub fn totp(seed: &[u8], algorithm: TotpAlgorithm, unix_time: u64, period: u64, digits: u32) -> (String, u64) {
    let counter = (unix_time / period).to_be_bytes();
    let sum = match algorithm {
        TotpAlgorithm::Sha1 => hmac!(sha1::Sha1, seed, &counter),
        TotpAlgorithm::Sha256 => hmac!(sha2::Sha256, seed, &counter),
        TotpAlgorithm::Sha384 => hmac!(sha2::Sha384, seed, &counter),
        TotpAlgorithm::Sha512 => hmac!(sha2::Sha512, seed, &counter),
        TotpAlgorithm::Sha512_256 => hmac!(sha2::Sha512_256, seed, &counter),
    };
    // RFC 4226 §5.4 dynamic truncation.
    let offset = usize::from(sum[sum.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([sum[offset] & 0x7f, sum[offset + 1], sum[offset + 2], sum[offset + 3]]);
    let code = u64::from(value) % 10u64.pow(digits);
    (format!("{code:0width$}", width = digits as usize), period - unix_time % period)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the seed is the ASCII string "1234567890" repeated to the hash's
    /// output size, 8 digits, 30-second period.
    #[test]
    fn rfc_6238_test_vectors() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, want1, want256, want512) in vectors {
            assert_eq!(totp(sha1, TotpAlgorithm::Sha1, time, 30, 8).0, want1, "SHA1 at {time}");
            assert_eq!(totp(sha256, TotpAlgorithm::Sha256, time, 30, 8).0, want256, "SHA256 at {time}");
            assert_eq!(totp(sha512, TotpAlgorithm::Sha512, time, 30, 8).0, want512, "SHA512 at {time}");
        }
    }

    #[test]
    fn six_digits_are_the_last_six_and_zero_padded() {
        // 07081804 truncated to 6 digits keeps its leading zero.
        assert_eq!(totp(b"12345678901234567890", TotpAlgorithm::Sha1, 1111111109, 30, 6).0, "081804");
        assert_eq!(totp(b"12345678901234567890", TotpAlgorithm::Sha1, 1111111109, 30, 10).0.len(), 10);
    }

    #[test]
    fn time_left_counts_down_within_the_period() {
        assert_eq!(totp(b"k", TotpAlgorithm::Sha1, 60, 30, 6).1, 30);
        assert_eq!(totp(b"k", TotpAlgorithm::Sha1, 59, 30, 6).1, 1);
        assert_eq!(totp(b"k", TotpAlgorithm::Sha1, 61, 60, 6).1, 59);
    }

    #[test]
    fn other_algorithms_differ_and_unknown_names_are_none() {
        let codes: std::collections::BTreeSet<String> = ["sha1", "sha256", "sha384", "sha512", "sha512_256"]
            .into_iter()
            .map(|n| totp(b"12345678901234567890", TotpAlgorithm::parse(n).unwrap(), 59, 30, 8).0)
            .collect();
        assert_eq!(codes.len(), 5);
        assert_eq!(TotpAlgorithm::parse("md5"), None);
        assert_eq!(TotpAlgorithm::parse("SHA1"), None);
    }
}
