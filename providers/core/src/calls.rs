use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{CredentialSource, ProviderError};

/// Counts provider API calls: the controller feeds `externalsecret_provider_api_calls_count` and
/// the call-latency histogram from it. Providers record every remote call they make, by the
/// SDK-level operation name (`GetSecretValue`, `BatchGetSecretValue`, `Login`, …).
pub trait CallRecorder: Send + Sync {
    fn record(&self, provider: &'static str, call: &'static str, outcome: Result<(), &ProviderError>, elapsed: Duration);
}

/// A recorder that drops everything (unit tests, the render CLI).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCalls;

impl CallRecorder for NoCalls {
    fn record(&self, _: &'static str, _: &'static str, _: Result<(), &ProviderError>, _: Duration) {}
}

/// What a provider gets when it is built for a store.
#[derive(Clone)]
pub struct ProviderContext {
    /// Reads the Kubernetes objects the store's auth section names, tenancy rules applied.
    pub credentials: Arc<dyn CredentialSource>,
    pub calls: Arc<dyn CallRecorder>,
}

impl ProviderContext {
    /// Run one remote call and record it.
    pub async fn timed<T>(
        &self,
        provider: &'static str,
        call: &'static str,
        fut: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let start = Instant::now();
        let result = fut.await;
        self.calls.record(provider, call, result.as_ref().map(|_| ()), start.elapsed());
        result
    }
}
