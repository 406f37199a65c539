//! What one `dataFrom.find` may spend. A find lists a whole account and reads every match, so a
//! tenant could otherwise turn one ExternalSecret into thousands of provider calls and gigabytes
//! of values: every list page and every read is charged to the store's call budget before it is
//! made, and the search stops at a match limit and at a size limit.
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::{ProviderError, SecretValue};

/// The limits of one find, from the controller's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindLimits {
    /// The most remote secrets one find may return.
    pub max_matches: usize,
    /// The most bytes (names and values) one find may return: a Kubernetes Secret holds 1 MiB.
    pub max_bytes: usize,
}

impl Default for FindLimits {
    fn default() -> Self {
        FindLimits { max_matches: 500, max_bytes: 1024 * 1024 }
    }
}

/// A store's provider-call budget, as a find sees it.
#[async_trait]
pub trait CallBudget: Send + Sync {
    /// Wait until `calls` more remote calls may be made.
    async fn charge(&self, calls: usize);
}

/// No budget: every call may go at once (unit tests, `sesame render`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Unmetered;

#[async_trait]
impl CallBudget for Unmetered {
    async fn charge(&self, _calls: usize) {}
}

/// The budget and limits of one find, and what it has read so far.
pub struct FindScope<'a> {
    budget: &'a dyn CallBudget,
    pub limits: FindLimits,
    bytes: AtomicUsize,
}

impl<'a> FindScope<'a> {
    pub fn new(budget: &'a dyn CallBudget, limits: FindLimits) -> Self {
        FindScope { budget, limits, bytes: AtomicUsize::new(0) }
    }

    /// Default limits and no budget.
    pub fn unmetered() -> FindScope<'static> {
        static UNMETERED: Unmetered = Unmetered;
        FindScope::new(&UNMETERED, FindLimits::default())
    }

    /// Wait for the budget before making `calls` remote calls.
    pub async fn charge(&self, calls: usize) {
        if calls > 0 {
            self.budget.charge(calls).await;
        }
    }

    /// Fails once `matched` names exceed the match limit: call it while listing, before reading.
    pub fn check_matches(&self, matched: usize) -> Result<(), ProviderError> {
        if matched > self.limits.max_matches {
            return Err(ProviderError::Invalid(format!(
                "find matches more than {} secrets, the controller's limit (--find-max-matches)",
                self.limits.max_matches
            )));
        }
        Ok(())
    }

    /// Counts a value read for `name`; fails once the find's total exceeds the size limit.
    pub fn check_value(&self, name: &str, value: &SecretValue) -> Result<(), ProviderError> {
        let total = self.bytes.fetch_add(name.len() + value.len(), Ordering::SeqCst) + name.len() + value.len();
        if total > self.limits.max_bytes {
            return Err(ProviderError::Invalid(format!(
                "find returns more than {} bytes of secret data, the controller's limit (--find-max-bytes)",
                self.limits.max_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl CallBudget for Counting {
        async fn charge(&self, calls: usize) {
            self.0.fetch_add(calls, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn calls_are_charged_to_the_budget() {
        let budget = Counting::default();
        let scope = FindScope::new(&budget, FindLimits::default());
        scope.charge(3).await;
        scope.charge(0).await;
        assert_eq!(budget.0.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_match_limit_names_its_flag() {
        let scope = FindScope::new(&Unmetered, FindLimits { max_matches: 2, max_bytes: 100 });
        assert!(scope.check_matches(2).is_ok());
        let err = scope.check_matches(3).unwrap_err().to_string();
        assert!(err.contains("more than 2 secrets") && err.contains("--find-max-matches"), "{err}");
    }

    #[test]
    fn the_size_limit_counts_names_and_values_across_reads() {
        let scope = FindScope::new(&Unmetered, FindLimits { max_matches: 10, max_bytes: 10 });
        assert!(scope.check_value("ab", &SecretValue::from("cdef")).is_ok());
        let err = scope.check_value("gh", &SecretValue::from("ijk")).unwrap_err().to_string();
        assert!(err.contains("more than 10 bytes") && err.contains("--find-max-bytes"), "{err}");
        assert!(!err.contains("ijk"), "no value in the message");
    }
}
