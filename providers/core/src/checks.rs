//! Checks of store fields that end up in a URL. A store's credentials go wherever its URLs point,
//! so a field that becomes a host name or a path is held to the narrow shape it needs, before
//! any client is built: a location of `evil.example/x#` must never turn into a request to
//! `evil.example`.
use crate::ProviderError;

/// A single host-name label (a region or location such as `eu-west-1`): `^[a-z0-9-]+$`.
pub const HOST_LABEL_PATTERN: &str = "^[a-z0-9-]+$";

/// `value` is one lowercase DNS label (region, location).
pub fn host_label(field: &str, value: &str) -> Result<(), ProviderError> {
    let ok = !value.is_empty() && value.len() <= 63 && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok { Ok(()) } else { Err(ProviderError::Invalid(format!("{field} {value:?} must match {HOST_LABEL_PATTERN}"))) }
}

/// `value` is a URL with one of `schemes`, a host name (or IP) and an optional port, and at most
/// a plain path (no user info, query, fragment, percent escapes or `..` segments): the host a
/// reader sees in the field is the only host a request can go to.
pub fn base_url(field: &str, value: &str, schemes: &[&str]) -> Result<(), ProviderError> {
    let invalid = |why: &str| Err(ProviderError::Invalid(format!("{field} {value:?} {why}")));
    let Some((scheme, rest)) = value.split_once("://") else {
        return invalid("is not a URL (scheme://host)");
    };
    if !schemes.contains(&scheme) {
        return invalid(&format!("must use {}", schemes.join(" or ")));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // `[v6]:port` or `host:port`; the port is optional.
    let (host, port) = match authority.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((v6, tail)) if v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') && !v6.is_empty() => {
            ("v6", tail.strip_prefix(':').or(Some(tail).filter(|t| !t.is_empty())))
        }
        Some(_) => ("", None),
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && !host.starts_with('.')
        && !host.starts_with('-');
    if !host_ok {
        return invalid("must name a host with letters, digits, dots and dashes only (no user info)");
    }
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return invalid("has an invalid port");
    }
    let path_ok = path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
        && !path.split('/').any(|s| s == "..");
    if !path_ok {
        return invalid("may carry only a plain path (no query, fragment, escapes or `..`)");
    }
    Ok(())
}

/// `value` is a relative path of plain segments (a Vault mount such as `secret` or `team/kv`).
pub fn path_segments(field: &str, value: &str) -> Result<(), ProviderError> {
    let trimmed = value.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|s| {
            !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!(
            "{field} {value:?} must be a path of letters, digits, '-', '_' and '.' segments (no '..', '?', '#' or '%')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_label_is_one_lowercase_dns_label() {
        for ok in ["europe-west1", "us-east-1", "global"] {
            host_label("location", ok).unwrap();
        }
        for bad in ["", "evil.example/x#", "EU", "a.b", "x@y", "a b", "eu-west-1#"] {
            let err = host_label("location", bad).unwrap_err();
            assert!(matches!(&err, ProviderError::Invalid(m) if m.contains("location")), "{bad}: {err}");
        }
    }

    #[test]
    fn a_base_url_names_its_host_and_nothing_that_could_move_it() {
        let https = &["https"];
        for ok in [
            "https://my-vault.vault.azure.net",
            "https://my-vault.vault.azure.net/",
            "https://login.microsoftonline.com/",
            "https://adfs.local.azurestack.external/adfs/",
            "https://127.0.0.1:8443",
            "https://[::1]:8200",
        ] {
            base_url("vaultUrl", ok, https).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://v.vault.azure.net",
            "https://v.vault.azure.net@evil.example",
            "https://evil.example#.vault.azure.net",
            "https://evil.example?.vault.azure.net",
            "https://evil.example/%2e%2e/",
            "https://a/../b",
            "https://",
            "https://:443",
            "https://h:x",
            "v.vault.azure.net",
        ] {
            assert!(base_url("vaultUrl", bad, https).is_err(), "{bad} was accepted");
        }
        base_url("server", "http://127.0.0.1:8200", &["http", "https"]).unwrap();
    }

    #[test]
    fn a_mount_path_is_plain_segments() {
        for ok in ["secret", "/secret/", "team-a/kv", "kv_2.v"] {
            path_segments("path", ok).unwrap();
        }
        for bad in ["", "..", "secret/../sys", "a?b", "a#b", "a%2fb", "a//b"] {
            assert!(path_segments("path", bad).is_err(), "{bad} was accepted");
        }
    }
}
