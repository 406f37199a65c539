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
use std::time::Instant;

use gotmpl::{FuncMap, Value};

use super::engine::call_error;
use super::value::{FnResult, deep_size};

/// Per-render state the functions can see.
pub(crate) struct Ctx {
    pub(crate) deadline: Instant,
    pub(crate) max_value: usize,
    /// The data map, to tell ESO's `map[string]string` from other maps.
    pub(crate) root: Arc<BTreeMap<Arc<str>, Value>>,
}

/// A template function.
pub(crate) type Func = fn(&Ctx, &[Value]) -> FnResult;

/// The message of the wall-clock limit.
pub(crate) const TOO_LONG: &str = "evaluation took too long";

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

/// The function map for one render, bound to its context.
pub(crate) fn func_map(ctx: &Arc<Ctx>) -> FuncMap {
    let mut fm = FuncMap::new();
    for (&name, &(min, max, f)) in &REGISTRY.funcs {
        let ctx = Arc::clone(ctx);
        fm.insert(
            name.to_string(),
            Arc::new(move |args: &[Value]| {
                if Instant::now() > ctx.deadline {
                    return Err(gotmpl::TemplateError::Exec(TOO_LONG.into()));
                }
                if args.len() < min || args.len() > max {
                    let want = match (min, max) {
                        (a, b) if a == b => format!("{a}"),
                        (a, ANY) => format!("at least {a}"),
                        (a, b) => format!("{a} to {b}"),
                    };
                    return Err(gotmpl::TemplateError::Exec(format!("wrong number of args for {name}: want {want} got {}", args.len())));
                }
                let input: usize = args.iter().map(deep_size).sum();
                if input > ctx.max_value * 2 {
                    return Err(call_error(name, "arguments exceed the value size limit"));
                }
                let out = f(&ctx, args).map_err(|m| call_error(name, &m))?;
                if deep_size(&out) > ctx.max_value {
                    return Err(call_error(name, "result exceeds the value size or nesting limit"));
                }
                Ok(out)
            }),
        );
    }
    fm
}
