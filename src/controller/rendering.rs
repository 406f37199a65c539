//! Rendering templates in the controller. Each render may use its whole sandbox budget (memory,
//! time), so at most `max_concurrent` run at once and peak memory stays bounded whatever the
//! tenants write; a render is abandoned when its ExternalSecret is deleted.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use tokio::sync::Semaphore;

use super::Error;
use crate::api::{ExternalSecret, ExternalSecretTemplate};
use crate::cli::TemplateFlags;
use crate::duration::parse_go_duration;
use crate::pipeline::{self, LoadedTemplates, RenderLimits, Shaped, TemplateFailure};

/// How the controller renders templates (from the command line).
#[derive(Debug, Clone)]
pub struct RenderConfig {
    pub limits: RenderLimits,
    /// Renders running at the same time.
    pub max_concurrent: usize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig { limits: RenderLimits::default(), max_concurrent: 2 }
    }
}

impl RenderConfig {
    pub fn from_flags(flags: &TemplateFlags) -> anyhow::Result<Self> {
        let timeout = parse_go_duration(&flags.template_timeout).map_err(|e| anyhow::anyhow!("--template-timeout: {e}"))?;
        if timeout.is_zero() || flags.max_concurrent_renders == 0 {
            anyhow::bail!("--template-timeout and --max-concurrent-renders must be positive");
        }
        let mut limits = RenderLimits { max_total_output: flags.template_max_output, max_duration: timeout, ..RenderLimits::default() };
        limits.engine.max_steps = flags.template_max_steps;
        limits.engine.max_memory = flags.template_max_memory;
        limits.engine.max_value = flags.template_max_value;
        limits.engine.max_output = flags.template_max_output;
        Ok(RenderConfig { limits, max_concurrent: flags.max_concurrent_renders })
    }
}

/// Kind, namespace and name of the object whose templates render.
pub type Key = (&'static str, String, String);

/// The render slots and the cancel flag of each render under way.
pub struct Renders {
    limits: RenderLimits,
    slots: Semaphore,
    in_flight: Mutex<HashMap<Key, Arc<AtomicBool>>>,
}

pub(super) fn key(es: &ExternalSecret) -> Key {
    ("ExternalSecret", es.namespace().unwrap_or_default(), es.name_any())
}

/// Forgets a render's cancel flag when it ends, however it ends.
struct InFlight<'a> {
    renders: &'a Renders,
    key: Key,
    flag: Arc<AtomicBool>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self.renders.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flag)) {
            map.remove(&self.key);
        }
    }
}

impl Renders {
    pub fn new(config: &RenderConfig) -> Self {
        Renders { limits: config.limits.clone(), slots: Semaphore::new(config.max_concurrent.max(1)), in_flight: Mutex::default() }
    }

    /// Abandons the render of a deleted ExternalSecret, waiting or running.
    pub fn cancel(&self, es: &ExternalSecret) {
        if let Some(flag) = self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).get(&key(es)) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Shapes the Secret from `tpl` once a render slot is free.
    pub async fn render(
        &self,
        es: &ExternalSecret,
        tpl: &ExternalSecretTemplate,
        data: &BTreeMap<String, Vec<u8>>,
        loaded: &LoadedTemplates,
    ) -> Result<Shaped, Error> {
        self.render_as(key(es), tpl, data, loaded).await.map_err(Error::Template)
    }

    /// [`Renders::render`] for any object's template (a PushSecret's).
    pub async fn render_as(
        &self,
        key: Key,
        tpl: &ExternalSecretTemplate,
        data: &BTreeMap<String, Vec<u8>>,
        loaded: &LoadedTemplates,
    ) -> Result<Shaped, TemplateFailure> {
        self.run_as(key, |flag| pipeline::apply_template(tpl, data, loaded, &self.limits, Some(flag))).await
    }

    /// Runs `work` (a render within [`RenderLimits`], given its cancel flag) once a slot is free.
    pub async fn run_as<T>(
        &self,
        key: Key,
        work: impl FnOnce(Arc<AtomicBool>) -> Result<T, TemplateFailure>,
    ) -> Result<T, TemplateFailure> {
        let flag = Arc::new(AtomicBool::new(false));
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), flag.clone());
        let _in_flight = InFlight { renders: self, key: key.clone(), flag: flag.clone() };
        // The semaphore is never closed.
        let _slot = self.slots.acquire().await.ok();
        let (kind, namespace, name) = key;
        tracing::debug!(kind, name = %name, namespace = %namespace, "rendering templates");
        // Rendering is CPU work (bcrypt, RSA): keep it off the async workers' hot path.
        let out = tokio::task::block_in_place(|| work(flag));
        if out.as_ref().is_err_and(|e| e.cancelled()) {
            tracing::info!(kind, name = %name, namespace = %namespace, "render abandoned: the object was deleted");
        }
        out
    }

    /// The limits each render runs within.
    pub fn limits(&self) -> &RenderLimits {
        &self.limits
    }
}
