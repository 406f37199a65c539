//! The per-render sandbox state every function and the output sink consult:
//! the step, memory, value-size and time budgets, and the cancel flag. The
//! first limit that trips is recorded, so the render fails with it (a
//! [`Limit`](super::ErrorKind::Limit) error naming the limit) whatever the
//! engine makes of the function error that carried it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gotmpl::Value;

use super::engine::Limits;

/// Returned by [`Ctx::ensure`] so the function wrapper can name the function
/// whose result would have been too large.
pub(crate) const VALUE_LIMIT: &str = "\u{0}value-limit";

/// Per-render state the functions can see.
pub(crate) struct Ctx {
    /// The data map, to tell ESO's `map[string]string` from other maps.
    pub(crate) root: Arc<BTreeMap<Arc<str>, Value>>,
    pub(crate) max_value: usize,
    max_steps: u64,
    max_memory: usize,
    deadline: Instant,
    /// Whether `deadline` is the caller's (shared) deadline rather than this render's own budget.
    caller_deadline: bool,
    max_duration: Duration,
    cancel: Option<Arc<AtomicBool>>,
    steps: AtomicU64,
    allocated: AtomicUsize,
    hit: Mutex<Option<String>>,
    /// The failure text is the template's own (`fail`): it may hold derived values.
    pub(crate) template_text: AtomicBool,
}

impl Ctx {
    pub(crate) fn new(limits: &Limits, root: Arc<BTreeMap<Arc<str>, Value>>) -> Self {
        let own = Instant::now() + limits.max_duration;
        let (deadline, caller_deadline) = match limits.deadline {
            Some(d) if d < own => (d, true),
            _ => (own, false),
        };
        Ctx {
            root,
            max_value: limits.max_value,
            max_steps: limits.max_steps,
            max_memory: limits.max_memory,
            deadline,
            caller_deadline,
            max_duration: limits.max_duration,
            cancel: limits.cancel.clone(),
            steps: AtomicU64::new(0),
            allocated: AtomicUsize::new(0),
            hit: Mutex::new(None),
            template_text: AtomicBool::new(false),
        }
    }

    /// Records the first limit hit and returns its message.
    pub(crate) fn trip(&self, message: String) -> String {
        let mut hit = self.hit.lock().unwrap_or_else(|p| p.into_inner());
        hit.get_or_insert(message).clone()
    }

    /// The limit that stopped the render, if one did.
    pub(crate) fn hit(&self) -> Option<String> {
        self.hit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fails once the render is cancelled or out of time.
    pub(crate) fn check_time(&self) -> Result<(), String> {
        if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(self.trip("the render was cancelled".into()));
        }
        if Instant::now() > self.deadline {
            let why = if self.caller_deadline {
                "evaluation took too long: the time budget for this render ran out (time limit)".to_string()
            } else {
                format!("evaluation took too long: over {:?} (time limit)", self.max_duration)
            };
            return Err(self.trip(why));
        }
        Ok(())
    }

    /// Counts `n` executed nodes or calls against the step budget.
    pub(crate) fn step(&self, n: u64) -> Result<(), String> {
        let done = self.steps.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        if done > self.max_steps {
            return Err(self.trip(format!("more than {} steps executed (step limit)", self.max_steps)));
        }
        self.check_time()
    }

    /// Counts `bytes` of newly built values against the memory budget.
    pub(crate) fn charge(&self, bytes: usize) -> Result<(), String> {
        let total = self.allocated.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if total > self.max_memory {
            return Err(self.trip(format!("function results exceed {} bytes in total (memory limit)", self.max_memory)));
        }
        Ok(())
    }

    /// Checks a result's size before it is built: fails when `bytes` exceed the value size limit.
    pub(crate) fn ensure(&self, bytes: u128) -> Result<(), String> {
        if bytes > self.max_value as u128 { Err(VALUE_LIMIT.into()) } else { Ok(()) }
    }

    /// The message of the value size limit for function `name`.
    pub(crate) fn value_limit(&self, name: &str) -> String {
        self.trip(format!("{name}: result exceeds the value size limit of {} bytes", self.max_value))
    }
}

/// Whether `out` is one of the arguments (or an element of one) rather than a newly built value:
/// passing a value on costs no memory.
pub(crate) fn passed_through(out: &Value, args: &[Value]) -> bool {
    let same = |a: &Value| match (out, a) {
        (Value::String(x), Value::String(y)) => Arc::ptr_eq(x, y),
        (Value::List(x), Value::List(y)) => Arc::ptr_eq(x, y),
        (Value::Map(x), Value::Map(y)) => Arc::ptr_eq(x, y),
        (Value::String(_) | Value::List(_) | Value::Map(_), _) => false,
        _ => true,
    };
    args.iter().any(|a| {
        same(a)
            || match a {
                Value::List(l) => l.iter().any(same),
                Value::Map(m) => m.values().any(same),
                _ => false,
            }
    })
}
