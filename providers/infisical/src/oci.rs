//! OCI Auth (`ociAuthCredentials`) as Infisical's SDK does it: a `GET /20160918/users/<user>`
//! request to `identity.<region>.oraclecloud.com` is signed with the user's API key (OCI's HTTP
//! Signature, `rsa-sha256` over `date (request-target) host`, the headers OCI requires of a
//! GET), and its headers go to `POST /api/v1/auth/oci-auth/login` with the user's OCID; Infisical
//! replays the request to OCI. The private key never leaves the controller.
use std::fmt;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sesame_provider_core::ProviderError;

use crate::keys::RsaKey;

/// The headers OCI signs for a request without a body, in its order.
const SIGNED_HEADERS: &str = "date (request-target) host";

/// A user's API key and where it is registered.
pub(crate) struct OciKey {
    pub(crate) key: RsaKey,
    pub(crate) fingerprint: String,
    pub(crate) user_id: String,
    pub(crate) tenancy_id: String,
    pub(crate) region: String,
}

impl fmt::Debug for OciKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciKey").field("user_id", &self.user_id).field("region", &self.region).finish_non_exhaustive()
    }
}

/// OCIDs, fingerprints and regions reach a host name, a path and a quoted header parameter:
/// only the characters they are made of.
fn check(field: &str, value: &str, extra: &[u8]) -> Result<(), ProviderError> {
    let ok = !value.is_empty() && value.len() <= 255 && value.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    if !ok {
        return Err(ProviderError::Invalid(format!("ociAuthCredentials.{field} is not an OCI {field}")));
    }
    Ok(())
}

impl OciKey {
    pub(crate) fn new(
        key: RsaKey,
        fingerprint: String,
        user_id: String,
        tenancy_id: String,
        region: String,
    ) -> Result<Self, ProviderError> {
        check("userId", &user_id, b".-_")?;
        check("tenancyId", &tenancy_id, b".-_")?;
        check("fingerprint", &fingerprint, b":")?;
        check("region", &region, b"-")?;
        Ok(OciKey { key, fingerprint, user_id, tenancy_id, region })
    }

    /// The signed request's headers as the login takes them (lower-case names), at `now`.
    pub(crate) fn signed_headers(&self, now: SystemTime) -> Result<Value, ProviderError> {
        let host = format!("identity.{}.oraclecloud.com", self.region);
        let target = format!("get /20160918/users/{}", self.user_id);
        let date = httpdate::fmt_http_date(now);
        let signing_string = format!("date: {date}\n(request-target): {target}\nhost: {host}");
        let signature = STANDARD.encode(self.key.sign(signing_string.as_bytes())?);
        let key_id = format!("{}/{}/{}", self.tenancy_id, self.user_id, self.fingerprint);
        let authorization = format!(
            "Signature version=\"1\",headers=\"{SIGNED_HEADERS}\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",signature=\"{signature}\""
        );
        Ok(json!({"authorization": authorization, "date": date, "host": host}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_would_change_the_host_or_the_header_are_refused_without_echoing_them() {
        for (field, value, extra) in [
            ("region", "us-ashburn-1.evil.example/x", &b"-"[..]),
            ("userId", "ocid1.user..a\",keyId=\"x", &b".-_"[..]),
            ("fingerprint", "20:3b\nhost: x", &b":"[..]),
        ] {
            let err = check(field, value, extra).unwrap_err().to_string();
            assert!(err.contains(field) && !err.contains(value), "{err}");
        }
        assert!(check("region", "", b"-").is_err());
        assert!(check("region", "eu-frankfurt-1", b"-").is_ok());
        assert!(check("userId", "ocid1.user.oc1..aaaaaaaa_x-y", b".-_").is_ok());
    }
}
