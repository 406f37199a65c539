//! The generators that need nothing but a CSPRNG (and, for MFA, a Secret read through the
//! context): ESO's `Password`, `UUID`, `Fake`, `SSHKey` and `MFA` kinds.
//!
//! Each kind has its spec type (ESO's field names and defaults; it becomes the CRD schema) and a
//! generator built from it by `new`, which is where a spec that cannot work is refused.
#![forbid(unsafe_code)]

mod fake;
mod mfa;
mod password;
mod sshkey;
mod totp;
mod uuid;

pub use fake::{Fake, FakeSpec};
pub use mfa::{Mfa, MfaSpec};
pub use password::{Password, PasswordEncoding, PasswordSpec};
pub use sshkey::{SshKey, SshKeySpec, SshKeyType};
pub use totp::{TotpAlgorithm, totp};
pub use uuid::{Uuid, UuidSpec};

#[cfg(test)]
mod testctx;
