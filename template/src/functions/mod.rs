//! ESO's template function set: sprig v3 (without `env`, `expandenv` and
//! `getHostByName`) plus ESO's helpers, each wrapped with the sandbox checks
//! (arity, wall-clock deadline, value size).

mod builtins;
mod certgen;
mod crypto;
mod dates;
mod decimal;
mod defaults;
mod der;
mod dicts;
mod encoding;
mod json;
mod jwk;
mod keygen;
mod keys;
mod lists;
mod math;
mod pem;
mod pkcs12;
mod regex;
mod semver;
mod strings;
mod text;
mod yaml;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use gotmpl::{FuncMap, Value};

use super::engine::call_error;
pub(crate) use super::sandbox::Ctx;
use super::sandbox::{VALUE_LIMIT, passed_through};
use super::value::{FnResult, deep_size};

/// A template function.
pub(crate) type Func = fn(&Ctx, &[Value]) -> FnResult;

/// Functions whose error text is the template's own (and may hold values derived from secrets).
const TEMPLATE_TEXT: &[&str] = &["fail"];

/// Accepts any number of arguments.
pub(crate) const ANY: usize = usize::MAX;

/// Name → (min args, max args, function).
pub(crate) struct Registry {
    funcs: BTreeMap<&'static str, (usize, usize, Func)>,
}

impl Registry {
    pub(crate) fn add(&mut self, name: &'static str, min: usize, max: usize, f: Func) {
        self.funcs.insert(name, (min, max, f));
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut r = Registry { funcs: BTreeMap::new() };
    builtins::register(&mut r);
    strings::register(&mut r);
    regex::register(&mut r);
    encoding::register(&mut r);
    yaml::register(&mut r);
    lists::register(&mut r);
    dicts::register(&mut r);
    math::register(&mut r);
    defaults::register(&mut r);
    dates::register(&mut r);
    semver::register(&mut r);
    crypto::register(&mut r);
    pem::register(&mut r);
    pkcs12::register(&mut r);
    jwk::register(&mut r);
    keygen::register(&mut r);
    certgen::register(&mut r);
    r
});

/// Builtins of Go's text/template that the engine provides unchanged.
const ENGINE_BUILTINS: &[&str] = &["and", "or", "not", "call", "eq", "ne", "lt", "le", "gt", "ge"];

/// Whether `name` can be called from a template.
pub(crate) fn is_known(name: &str) -> bool {
    REGISTRY.funcs.contains_key(name) || ENGINE_BUILTINS.contains(&name)
}

/// Names of all functions registered here.
#[cfg(test)]
pub(crate) fn names() -> Vec<&'static str> {
    REGISTRY.funcs.keys().copied().collect()
}

/// The function map for one render, bound to its context. Every call counts as a step and
/// checks the time budget and the cancel flag first; arguments and results are held to the value
/// size limit, and newly built results are charged to the memory budget.
pub(crate) fn func_map(ctx: &Arc<Ctx>) -> FuncMap {
    let mut fm = FuncMap::new();
    for (&name, &(min, max, f)) in &REGISTRY.funcs {
        let ctx = Arc::clone(ctx);
        fm.insert(
            name.to_string(),
            Arc::new(move |args: &[Value]| {
                let exec = gotmpl::TemplateError::Exec;
                ctx.step(1).map_err(exec)?;
                if args.len() < min || args.len() > max {
                    let want = match (min, max) {
                        (a, b) if a == b => format!("{a}"),
                        (a, ANY) => format!("at least {a}"),
                        (a, b) => format!("{a} to {b}"),
                    };
                    return Err(exec(format!("wrong number of args for {name}: want {want} got {}", args.len())));
                }
                let input: usize = args.iter().map(deep_size).fold(0, usize::saturating_add);
                if input > ctx.max_value.saturating_mul(2) {
                    let limit = ctx.trip(format!("{name}: arguments exceed twice the value size limit of {} bytes", ctx.max_value));
                    return Err(exec(limit));
                }
                let out = match f(&ctx, args) {
                    Ok(out) => out,
                    Err(m) if m == VALUE_LIMIT => return Err(exec(ctx.value_limit(name))),
                    Err(m) => {
                        if TEMPLATE_TEXT.contains(&name) {
                            ctx.template_text.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        return Err(call_error(name, &m));
                    }
                };
                let size = deep_size(&out);
                if size > ctx.max_value {
                    return Err(exec(ctx.value_limit(name)));
                }
                if !passed_through(&out, args) {
                    ctx.charge(size).map_err(exec)?;
                }
                Ok(out)
            }),
        );
    }
    fm
}
