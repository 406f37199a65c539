//! The seam between Sesame's controller and its secret backends.
//!
//! A backend implements [`SecretProvider`]: it reads remote values and nothing else. It never
//! writes to Kubernetes; the credentials it needs arrive through [`CredentialSource`], which the
//! controller implements with the tenancy rules applied (a namespaced store never reads outside its
//! namespace), so no provider has to get those rules right on its own.
#![forbid(unsafe_code)]

mod calls;
mod error;
mod find;
mod provider;
mod quota;
mod refs;
mod selectors;
mod value;

pub mod checks;
pub mod property;
pub mod push;

pub use calls::{CallRecorder, NoCalls, ProviderContext};
pub use error::ProviderError;
pub use find::{CallBudget, FindLimits, FindScope, Unmetered};
pub use provider::{Capabilities, CredentialSource, DEFAULT_BATCH_CONCURRENCY, SecretProvider};
pub use quota::{CallQuota, CallRate};
pub use refs::{FindName, FindQuery, MetadataPolicy, PushRef, RemoteKey};
pub use selectors::{CaProvider, CaProviderKind, NamespacedRef, SecretKeySelector, ServiceAccountSelector, ns_ref, referent_fields};
pub use value::SecretValue;
