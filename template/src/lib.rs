//! ESO-compatible templates (`spec.target.template`, engine v2).
//!
//! A template that External Secrets Operator renders must render to the same
//! bytes here: Go `text/template` syntax and semantics with
//! `missingkey=error`, a data context of key → string, and ESO's function set
//! (sprig v3 without `env`, `expandenv` and `getHostByName`, plus ESO's
//! PKCS#12 / PEM / JWK / RSA helpers and `toYaml` / `fromYaml`).
//!
//! Templates are sandboxed: no function touches files, the environment or the
//! network; output, value sizes, the memory functions may allocate, executed
//! steps, range iterations, recursion and wall time are bounded, and a render
//! can be cancelled ([`Limits`]); a bad template yields a [`TemplateError`]
//! with a line/column and a description that never contains secret values
//! (except the template's own `fail` text, see [`TemplateError::value_free`]).
//!
//! Secret values are bytes. They are carried through the engine losslessly
//! (see [`binstr`]), so a binary PKCS#12 archive can be piped to `pkcs12cert`
//! and `b64dec` can produce binary output, as in Go.
//!
//! Public API: [`render`] / [`render_string`] (ESO's `Values` scope),
//! [`render_keys_and_values`] / [`render_scoped`] (`KeysAndValues`), the same
//! as methods of a [`Renderer`] configured with ESO's
//! `--template-{left,right}-delimiter` or other [`Limits`]; errors are
//! [`TemplateError`] (line, column, [`ErrorKind`], message). Rendering is
//! synchronous CPU work (bcrypt, scrypt or RSA key generation take up to
//! seconds): call it from `spawn_blocking` in async code.
//!
//! Where this differs from ESO (Go text/template + sprig v3):
//! * not implemented: DSA keys in `genPrivateKey "dsa"` (returns an error
//!   text); `…WithKey` certificate functions accept RSA keys only;
//! * `set`/`unset`/`merge…` change the dict variable they are given (as Go's
//!   reference maps do) only when it is a plain variable (`set $d …`), not a
//!   field (`set $x.inner …`) or an alias of the same map;
//! * `dateInZone`/`htmlDateInZone`: zone names other than UTC/Local render
//!   in UTC (no zone database); `now` and `.999…` layouts print 3/6/9 digits;
//! * `fromYaml` and `KeysAndValues` read YAML 1.2 (`yes`/`no` stay strings;
//!   Go's sigs.k8s.io/yaml reads them as booleans);
//! * `semver` returns a dict of `Major`, `Minor`, `Patch`, `Prerelease`,
//!   `Metadata`, `Original` (Go returns an object printed as the version);
//! * `keys`/`values` are sorted (Go's order is random);
//! * integers are one type: `typeOf` says `int` where sprig returns `int64`
//!   (`add`, `int64`, …), and `duration` of a literal int counts it (Go
//!   gives `0s` for `int`, the value for `int64`/strings);
//! * `printf`: `%T` and zero-padded strings (`%05s`) are not supported by the
//!   engine crate;
//! * error columns are 1-based (Go's are 0-based byte offsets) and messages
//!   are Sesame's own; runtime error positions point at the first use of the
//!   failing function or field.
//!
//! Debug builds should optimise the crypto crates (`scrypt`, `salsa20`,
//! `pbkdf2`, `sha2`, `crypto-bigint`, `crypto-primes`, `rsa`; see the
//! workspace Cargo.toml): unoptimised, one `derivePassword` (scrypt) takes
//! ~20 s, beyond the default time budget.

#![forbid(unsafe_code)]

pub mod binstr;
mod diagnose;
mod engine;
mod error;
pub(crate) mod functions;
mod rewrite;
mod sandbox;
mod scope;
mod value;
mod variables;

#[cfg(test)]
mod tests;

pub use engine::{Limits, Renderer};
pub use error::{ErrorKind, TemplateError};
pub use scope::{TemplateScope, render_keys_and_values, render_scoped};

use std::collections::BTreeMap;

/// Renders one template (ESO's `Values` scope) against the secret data with
/// the default delimiters and [`Limits`].
///
/// Values may be any byte strings (`String`, `Vec<u8>`, …); the output is the
/// exact bytes Go would produce.
pub fn render<V: AsRef<[u8]>>(template: &str, data: &BTreeMap<String, V>) -> Result<Vec<u8>, TemplateError> {
    Renderer::default().render(template, data)
}

/// [`render`] for callers that need text (labels, annotations, rewritten keys):
/// fails if the output is not valid UTF-8.
pub fn render_string<V: AsRef<[u8]>>(template: &str, data: &BTreeMap<String, V>) -> Result<String, TemplateError> {
    let out = render(template, data)?;
    String::from_utf8(out).map_err(|_| TemplateError::output("rendered output is not valid UTF-8"))
}
