//! The Go `text/template` engine behind one module: parsing, sandboxed
//! execution and error mapping. The engine crate is `gotmpl` 0.6.1; its few
//! known divergences from Go are corrected here (`index` on a missing key and
//! with one argument, `len` of binary strings, unclosed blocks, `template`
//! without a data argument) so the engine can be swapped without touching
//! callers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gotmpl::parse::Parser;
use gotmpl::{MissingKey, Template, Value};

use super::error::TemplateError;
use super::functions;
use super::sandbox::Ctx;
use super::{binstr, diagnose, rewrite, variables};

/// Sandbox bounds for one render: the public configuration of the engine.
///
/// Every limit fails the render with a [`Limit`](super::ErrorKind::Limit)
/// error whose message names it; none lets a template allocate first and
/// check afterwards (functions that grow their input compute the result's
/// size before building it).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted template source, in bytes.
    pub max_template: usize,
    /// Largest rendered output, in bytes.
    pub max_output: usize,
    /// Largest value a function may take or produce (deep size, in bytes).
    pub max_value: usize,
    /// Total bytes of values the functions may build in one render (what
    /// variables can hold at once is bounded by it).
    pub max_memory: usize,
    /// Executed nodes (text, actions, control structures, template calls)
    /// and function calls in one render.
    pub max_steps: u64,
    /// Total `range` iterations across one execution.
    pub max_range_iterations: u64,
    /// Wall-clock budget for one render.
    pub max_duration: Duration,
    /// A deadline shared by several renders (all the templates of one
    /// object); the earlier of it and `max_duration` applies.
    pub deadline: Option<Instant>,
    /// Set to abandon the render: it stops at its next step.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_template: 256 * 1024,
            max_output: 1024 * 1024,
            max_value: 1024 * 1024,
            max_memory: 32 * 1024 * 1024,
            max_steps: 1_000_000,
            max_range_iterations: 100_000,
            max_duration: Duration::from_secs(5),
            deadline: None,
            cancel: None,
        }
    }
}

impl Limits {
    /// Whether the render was cancelled through [`Limits::cancel`].
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// A configured renderer: delimiters (ESO's `--template-left-delimiter` /
/// `--template-right-delimiter`) and limits.
#[derive(Debug, Clone)]
pub struct Renderer {
    limits: Limits,
    left: String,
    right: String,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer { limits: Limits::default(), left: "{{".into(), right: "}}".into() }
    }
}

impl Renderer {
    /// Uses other action delimiters than `{{` and `}}`.
    pub fn with_delimiters(mut self, left: &str, right: &str) -> Self {
        self.left = left.to_owned();
        self.right = right.to_owned();
        self
    }

    /// Uses other sandbox limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Renders `template` against `data` (ESO's `Values` scope).
    pub fn render<V: AsRef<[u8]>>(&self, template: &str, data: &BTreeMap<String, V>) -> Result<Vec<u8>, TemplateError> {
        if template.len() > self.limits.max_template {
            return Err(TemplateError::limit(format!("template is larger than {} bytes", self.limits.max_template)));
        }
        let root: BTreeMap<Arc<str>, Value> =
            data.iter().map(|(k, v)| (Arc::from(k.as_str()), Value::String(binstr::from_bytes(v.as_ref()).into()))).collect();
        let secrets: Vec<String> = data.values().map(|v| binstr::from_bytes(v.as_ref())).collect();
        self.render_root(template, root, &secrets)
    }

    /// Renders `template` against maps of values (`{{ .remoteRef.key }}`, as ESO's webhook
    /// templates read their data). Every value is a secret for error messages.
    pub fn render_nested<V: AsRef<[u8]>>(
        &self,
        template: &str,
        data: &BTreeMap<String, BTreeMap<String, V>>,
    ) -> Result<Vec<u8>, TemplateError> {
        if template.len() > self.limits.max_template {
            return Err(TemplateError::limit(format!("template is larger than {} bytes", self.limits.max_template)));
        }
        let mut secrets = Vec::new();
        let root: BTreeMap<Arc<str>, Value> = data
            .iter()
            .map(|(name, inner)| {
                let inner: BTreeMap<Arc<str>, Value> = inner
                    .iter()
                    .map(|(k, v)| {
                        let text = binstr::from_bytes(v.as_ref());
                        secrets.push(text.clone());
                        (Arc::from(k.as_str()), Value::String(text.into()))
                    })
                    .collect();
                (Arc::from(name.as_str()), Value::Map(Arc::new(inner)))
            })
            .collect();
        self.render_root(template, root, &secrets)
    }

    fn render_root(&self, template: &str, root: BTreeMap<Arc<str>, Value>, secrets: &[String]) -> Result<Vec<u8>, TemplateError> {
        let secrets = secrets.to_vec();
        let root = Arc::new(root);
        let ctx = Arc::new(Ctx::new(&self.limits, Arc::clone(&root)));
        ctx.check_time().map_err(TemplateError::limit)?;
        diagnose::check_blocks_closed(template, &self.left, &self.right)?;
        let funcs = functions::func_map(&ctx);
        let parsed = Template::new("template")
            .missing_key(MissingKey::Error)
            .max_range_iters(self.limits.max_range_iterations)
            .delims(&self.left, &self.right)
            .funcs(funcs.clone())
            .parse(template)
            .map_err(|e| diagnose::map_error(e, template, None, &secrets))?;
        diagnose::check_functions(&parsed, template, &functions::is_known)?;
        variables::check_assignments(&parsed, template)?;
        let program = self.executable(&parsed, template, funcs)?;
        let mut out = Bounded { buf: String::new(), max: self.limits.max_output, ctx: &ctx };
        let result = program.execute_fmt(&mut out, &Value::Map(root));
        if let Some(limit) = ctx.hit() {
            return Err(TemplateError::limit(limit));
        }
        match result {
            Ok(()) => Ok(binstr::to_bytes(&out.buf)),
            Err(e) => {
                let mut err = diagnose::map_error(e, template, Some(&parsed), &secrets);
                err.template_text = ctx.template_text.load(Ordering::Relaxed);
                Err(err)
            }
        }
    }
}

impl Renderer {
    /// The executable template: the parsed trees rewritten for Go semantics
    /// (see `rewrite`), under a root that runs the user's template.
    fn executable(&self, parsed: &Template, src: &str, funcs: gotmpl::FuncMap) -> Result<Template, TemplateError> {
        let mut root = Template::new("__sesame_root")
            .missing_key(MissingKey::Error)
            .max_range_iters(self.limits.max_range_iterations)
            .funcs(funcs)
            .parse("{{template \"template\" .}}")
            .map_err(|_| TemplateError::limit("internal template error"))?;
        for name in parsed.templates() {
            if let Some(tree) = parsed.lookup(name) {
                root = root.add_parse_tree(name, rewrite::rewrite(tree));
            }
        }
        if parsed.lookup("template").is_none() {
            // A main template of only whitespace, comments and definitions
            // is not registered by name; Go still executes it.
            let (tree, _) = Parser::new(src, &self.left, &self.right)
                .and_then(Parser::parse)
                .map_err(|_| TemplateError::limit("internal template error"))?;
            root = root.add_parse_tree("template", rewrite::rewrite(&tree));
        }
        Ok(root)
    }
}

/// Output sink that stops the execution at the output limit, when time is up or when the
/// render is cancelled.
struct Bounded<'a> {
    buf: String,
    max: usize,
    ctx: &'a Ctx,
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.buf.len() + s.len() > self.max {
            self.ctx.trip(format!("output is larger than {} bytes (output limit)", self.max));
            return Err(fmt::Error);
        }
        self.ctx.check_time().map_err(|_| fmt::Error)?;
        self.buf.push_str(s);
        Ok(())
    }
}

/// Builds an execution error for a function (`error calling NAME: ...`).
pub(crate) fn call_error(name: &str, message: &str) -> gotmpl::TemplateError {
    gotmpl::TemplateError::Exec(format!("error calling {name}: {message}"))
}
