//! Generic targets (`target.manifest`): the ConfigMap or custom resource an ExternalSecret
//! writes instead of a Secret, built as ESO 2.9 builds it. Without a template a ConfigMap gets
//! the data in `data` and any other kind in `spec.data`. With one, `template.data` goes to
//! `data`, and each `templateFrom` entry to its `target`: `Data`, `Labels`, `Annotations`,
//! `spec`, or a dotted path (`spec.db.config`, `spec.rules[0].from`) where the rendered YAML is
//! placed (a map merges into the map already there; a one-key path is replaced).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Map, Value, json};
use sesame_template::TemplateScope as Scope;

use super::templating::{Budget, LoadedTemplates, RenderLimits, TemplateFailure};
use crate::api::{ExternalSecretTemplate, MANAGED_LABEL, ManifestReference, TemplateScope, TemplateTarget};

/// The largest object a generic target may be, serialized: a ConfigMap's limit.
pub const MAX_OBJECT_BYTES: usize = 1 << 20;
/// Steps of a template path, and its largest list index (ESO's).
const MAX_PATH_TOKENS: usize = 32;
const MAX_INDEX: usize = 10_000;
/// Roots a template path may not write: the object's identity, its metadata (labels and
/// annotations have their own targets; ownerReferences and finalizers are not the template's)
/// and its status.
const RESERVED_ROOTS: &[&str] = &["apiVersion", "kind", "metadata", "status"];

#[derive(Debug, PartialEq)]
enum Token {
    Key(String),
    Index(usize),
}

/// ESO's path syntax: dot-separated keys, each optionally followed by `[n]` list indexes.
fn parse_path(path: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    for seg in path.split('.') {
        let (name, mut rest) = seg.find('[').map_or((seg, ""), |i| (&seg[..i], &seg[i..]));
        if name.is_empty() && rest.is_empty() {
            return Err(format!("invalid path {path:.100?}: empty segment"));
        }
        if !name.is_empty() {
            tokens.push(Token::Key(name.to_string()));
        }
        while !rest.is_empty() {
            let end = rest.find(']').filter(|_| rest.starts_with('['));
            let Some(end) = end else { return Err(format!("invalid path {path:.100?}: expected [index]")) };
            let index: usize = rest[1..end].parse().map_err(|_| format!("invalid path {path:.100?}: bad index"))?;
            if index > MAX_INDEX {
                return Err(format!("invalid path {path:.100?}: index {index} exceeds maximum ({MAX_INDEX})"));
            }
            tokens.push(Token::Index(index));
            rest = &rest[end + 1..];
        }
    }
    match tokens.first() {
        Some(Token::Key(root)) if RESERVED_ROOTS.iter().any(|r| r.eq_ignore_ascii_case(root)) => {
            Err(format!("path {path:.100?}: a template may not write {root}"))
        }
        Some(Token::Key(_)) if tokens.len() <= MAX_PATH_TOKENS => Ok(tokens),
        Some(Token::Key(_)) => Err(format!("path {path:.100?}: more than {MAX_PATH_TOKENS} steps")),
        _ => Err(format!("invalid path {path:.100?}: a path starts with a key")),
    }
}

/// The template paths of a generic target, checked before anything renders.
pub fn validate(template: Option<&ExternalSecretTemplate>) -> Result<(), String> {
    for (i, from) in template.iter().flat_map(|t| t.template_from.iter()).enumerate() {
        if let Some(TemplateTarget::Path(p)) = &from.target {
            parse_path(p).map_err(|e| format!("templateFrom[{i}].target: {e}"))?;
        }
    }
    Ok(())
}

/// What the object is built from.
pub struct Inputs<'a> {
    pub reference: &'a ManifestReference,
    pub name: &'a str,
    pub namespace: &'a str,
    /// The ExternalSecret's own labels and annotations: the object's when there is no template.
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub template: Option<&'a ExternalSecretTemplate>,
    pub loaded: &'a LoadedTemplates,
    pub data: &'a BTreeMap<String, Vec<u8>>,
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, TemplateFailure> {
    String::from_utf8(bytes).map_err(|_| {
        TemplateFailure::plain(format!(
            "{what}: a value is not UTF-8 text, and a {} holds text (encode it in a template, e.g. with b64enc)",
            "ConfigMap or custom resource"
        ))
    })
}

/// Puts `key: value` into the map at `obj[field]` (`data`, `spec`) or `metadata[field]`.
fn put(map: &mut Value, key: &str, value: String, what: &str) -> Result<(), TemplateFailure> {
    if map.is_null() {
        *map = Value::Object(Map::new());
    }
    let Value::Object(m) = map else { return Err(TemplateFailure::plain(format!("{what}: the target field is not a map"))) };
    m.insert(key.to_string(), Value::String(value));
    Ok(())
}

/// A rendered value as YAML when it parses (numbers, lists, maps), else the text (ESO's rule).
fn parse_yaml(text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn set_at(node: &mut Value, tokens: &[Token], leaf: &dyn Fn(Value) -> Value) -> Result<(), String> {
    let Some((first, rest)) = tokens.split_first() else { return Ok(()) };
    let slot = match first {
        Token::Key(k) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(m) = node else { return Err(format!("expected a map at key {k:.100?}")) };
            m.entry(k.clone()).or_insert(Value::Null)
        }
        Token::Index(i) => {
            if node.is_null() {
                *node = Value::Array(Vec::new());
            }
            let Value::Array(a) = node else { return Err(format!("expected a list at index {i}")) };
            if a.len() <= *i {
                a.resize(i + 1, Value::Null);
            }
            &mut a[*i]
        }
    };
    if rest.is_empty() {
        *slot = leaf(std::mem::take(slot));
        Ok(())
    } else {
        set_at(slot, rest, leaf)
    }
}

/// Places one rendered value at a path: the YAML it parses to replaces what is there.
fn place_value(obj: &mut Value, path: &str, text: &str, what: &str) -> Result<(), TemplateFailure> {
    let tokens = parse_path(path).map_err(|e| TemplateFailure::plain(format!("{what}: {e}")))?;
    let parsed = parse_yaml(text);
    set_at(obj, &tokens, &|_| parsed.clone()).map_err(|e| TemplateFailure::plain(format!("{what}: path {path:.100?}: {e}")))
}

/// Places a rendered YAML document at a path: a map merges into the map there, except at a
/// one-key path (`spec`), which it replaces.
fn place_document(obj: &mut Value, path: &str, text: &str, what: &str) -> Result<(), TemplateFailure> {
    let tokens = parse_path(path).map_err(|e| TemplateFailure::plain(format!("{what}: {e}")))?;
    let parsed: Value =
        serde_saphyr::from_str(text).map_err(|_| TemplateFailure::plain(format!("{what}: the rendered output is not YAML")))?;
    let whole = tokens.len() == 1;
    let leaf = |existing: Value| match (existing, &parsed) {
        (Value::Object(mut have), Value::Object(new)) if !whole => {
            have.extend(new.clone());
            Value::Object(have)
        }
        _ => parsed.clone(),
    };
    set_at(obj, &tokens, &leaf).map_err(|e| TemplateFailure::plain(format!("{what}: path {path:.100?}: {e}")))
}

/// Writes one key of an entry's Values-scope output to the entry's target.
fn apply_value(obj: &mut Value, target: &TemplateTarget, key: &str, value: String, what: &str) -> Result<(), TemplateFailure> {
    match target {
        TemplateTarget::Data => put(&mut obj["data"], key, value, what),
        TemplateTarget::Labels => put(&mut obj["metadata"]["labels"], key, value, what),
        TemplateTarget::Annotations => put(&mut obj["metadata"]["annotations"], key, value, what),
        TemplateTarget::Path(p) if p.eq_ignore_ascii_case("spec") => put(&mut obj["spec"], key, value, what),
        TemplateTarget::Path(p) => place_value(obj, p, &value, what),
    }
}

/// The object to write, built on `base` (the existing object, for the merging policies) or new.
pub fn build(
    inputs: &Inputs,
    base: Option<&Value>,
    limits: &RenderLimits,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<Value, TemplateFailure> {
    let r = inputs.reference;
    let mut obj = match base {
        Some(b) => b.clone(),
        None => {
            let mut o =
                json!({"apiVersion": r.api_version, "kind": r.kind, "metadata": {"name": inputs.name, "namespace": inputs.namespace}});
            o[if r.kind == "ConfigMap" { "data" } else { "spec" }] = json!({});
            o
        }
    };
    let mut budget = Budget::new(limits, cancel);
    let Some(tpl) = inputs.template else {
        for (k, v) in inputs.labels {
            put(&mut obj["metadata"]["labels"], k, v.clone(), "labels")?;
        }
        for (k, v) in inputs.annotations.iter().filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration") {
            put(&mut obj["metadata"]["annotations"], k, v.clone(), "annotations")?;
        }
        put(&mut obj["metadata"]["labels"], MANAGED_LABEL, "true".into(), "labels")?;
        let field = if r.kind == "ConfigMap" { &mut obj["data"] } else { &mut obj["spec"]["data"] };
        for (k, v) in inputs.data {
            put(field, k, utf8(v.clone(), "data")?, "data")?;
        }
        return Ok(obj);
    };
    if let Some(meta) = &tpl.metadata {
        for (k, body) in &meta.labels {
            let v = budget.text(&format!("template.metadata.labels[{k}]"), body, inputs.data)?;
            put(&mut obj["metadata"]["labels"], k, v, "labels")?;
        }
        for (k, body) in &meta.annotations {
            let v = budget.text(&format!("template.metadata.annotations[{k}]"), body, inputs.data)?;
            put(&mut obj["metadata"]["annotations"], k, v, "annotations")?;
        }
    }
    put(&mut obj["metadata"]["labels"], MANAGED_LABEL, "true".into(), "labels")?;
    for (i, from) in tpl.template_from.iter().enumerate() {
        let what = format!("templateFrom[{i}]");
        let target = from.target.clone().unwrap_or_default();
        let decoding = from.values_decoding_strategy.unwrap_or_default();
        let decode = |v: Vec<u8>| {
            super::keys::decode(v, decoding).map_err(|e| TemplateFailure::plain(format!("{what}: a rendered {e} (valuesDecodingStrategy)")))
        };
        let document = matches!(&target, TemplateTarget::Path(_));
        if let Some(literal) = &from.literal {
            if document {
                let text = utf8(budget.values(&what, literal, inputs.data)?, &what)?;
                let TemplateTarget::Path(p) = &target else { unreachable!("a path target") };
                place_document(&mut obj, p, &text, &what)?;
            } else {
                for (k, v) in budget.scoped(&what, Scope::KeysAndValues, "", literal, inputs.data)? {
                    apply_value(&mut obj, &target, &k, utf8(decode(v)?, &what)?, &what)?;
                }
            }
        }
        let items = from.config_map.as_ref().or(from.secret.as_ref()).map(|r| r.items.as_slice()).unwrap_or(&[]);
        let contents = inputs.loaded.get(i).cloned().unwrap_or_default();
        for item in items {
            let body = contents.get(&item.key).ok_or_else(|| TemplateFailure::plain(format!("{what}: key {} not found", item.key)))?;
            let scope = match item.template_as.unwrap_or_default() {
                TemplateScope::Values => Scope::Values,
                TemplateScope::KeysAndValues => Scope::KeysAndValues,
            };
            for (k, v) in budget.scoped(&format!("{what} key {}", item.key), scope, &item.key, body, inputs.data)? {
                apply_value(&mut obj, &target, &k, utf8(decode(v)?, &what)?, &what)?;
            }
        }
    }
    for (key, body) in &tpl.data {
        let what = format!("template.data[{key}]");
        let value = utf8(budget.values(&what, body, inputs.data)?, &what)?;
        put(&mut obj["data"], key, value, &what)?;
    }
    Ok(obj)
}

/// Refuses an object over [`MAX_OBJECT_BYTES`], before the apiserver sees it.
pub fn check_size(obj: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec(obj).map(|v| v.len()).unwrap_or(usize::MAX);
    if bytes > MAX_OBJECT_BYTES {
        return Err(format!("the target object would be {bytes} bytes, over the {MAX_OBJECT_BYTES}-byte limit of a generic target"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
