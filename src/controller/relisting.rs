//! An index fed by a watcher, relisted as kube's reflector is: a (re-)list fills a fresh index,
//! swapped in whole at its end, so readers never see a half-filled one and what was deleted
//! while the watch was away is dropped. What the index files per object is its owner's business
//! ([`super::CompactCache`], [`super::ExternalSecretCache`]).
use std::sync::{Mutex, RwLock, RwLockReadGuard};

pub struct Relisting<I> {
    live: RwLock<I>,
    listing: Mutex<Option<I>>,
    ready: tokio::sync::watch::Sender<bool>,
}

impl<I: Default> Default for Relisting<I> {
    fn default() -> Self {
        Relisting { live: RwLock::default(), listing: Mutex::new(None), ready: tokio::sync::watch::Sender::new(false) }
    }
}

impl<I: Default> Relisting<I> {
    /// The index as last listed and changed since.
    pub fn read(&self) -> RwLockReadGuard<'_, I> {
        self.live.read().expect("cache lock")
    }

    /// An `Apply` or `Delete`: changes the live index.
    pub fn change<R>(&self, f: impl FnOnce(&mut I) -> R) -> R {
        f(&mut self.live.write().expect("cache lock"))
    }

    /// `Init`: a list begins.
    pub fn begin(&self) {
        *self.listing.lock().expect("listing lock") = Some(I::default());
    }

    /// `InitApply`: files into the list under way (outside one, which kube's watcher never sends,
    /// into the live index).
    pub fn list<R>(&self, f: impl FnOnce(&mut I) -> R) -> R {
        let mut listing = self.listing.lock().expect("listing lock");
        match listing.as_mut() {
            Some(index) => f(index),
            None => self.change(f),
        }
    }

    /// `InitDone`: the list replaces the live index.
    pub fn end(&self) {
        if let Some(listed) = self.listing.lock().expect("listing lock").take() {
            *self.live.write().expect("cache lock") = listed;
        }
        self.ready.send_replace(true);
    }

    /// Resolves once the first list is complete.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }
}
