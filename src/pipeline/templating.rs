//! `target.template`: shape the Secret's data, type and metadata with Go templates over the
//! fetched data, with ESO's precedence (highest first): `template.data`, `templateFrom`, the
//! provider's keys (only with `mergePolicy: Merge` or when nothing templates the data).
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sesame_template::{ErrorKind, Limits, Renderer, TemplateError, TemplateScope as Scope};

use crate::api::{ExternalSecretTemplate, TemplateMergePolicy, TemplateScope, TemplateTarget};

/// What the Secret gets: data always; labels, annotations and type only from a template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shaped {
    pub data: BTreeMap<String, Vec<u8>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub type_: Option<String>,
}

impl Shaped {
    /// Untemplated data: the Secret carries the ExternalSecret's own labels and annotations.
    pub fn plain(data: BTreeMap<String, Vec<u8>>) -> Self {
        Shaped { data, ..Default::default() }
    }
}

/// The contents of each `templateFrom` entry's ConfigMap or Secret (key → template), in order;
/// entries without one (literal) get an empty map. Loaded by the caller.
pub type LoadedTemplates = Vec<BTreeMap<String, String>>;

/// Bounds on rendering all the templates of one ExternalSecret together: its `template.data`,
/// `templateFrom` entries, labels and annotations.
#[derive(Debug, Clone)]
pub struct RenderLimits {
    /// Each render's engine limits; `max_output` and the deadline come from the totals below.
    pub engine: Limits,
    /// Bytes all the templates of the object may render together.
    pub max_total_output: usize,
    /// Wall-clock budget of all of them together.
    pub max_duration: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits { engine: Limits::default(), max_total_output: 2 * 1024 * 1024, max_duration: Duration::from_secs(10) }
    }
}

/// Why the templates did not render, in three forms of decreasing detail.
#[derive(Debug, Clone)]
pub struct TemplateFailure {
    /// The entry (named from the spec) and the class of failure, without any message the template
    /// produced: for the Ready condition. A limit names the limit.
    pub summary: String,
    /// The detail without any text the template produced (its `fail` text): for Events and logs.
    pub detail: String,
    /// The full message, for the template's author at the command line.
    pub full: String,
}

impl TemplateFailure {
    fn render(what: &str, e: &TemplateError) -> Self {
        let summary = match e.kind {
            ErrorKind::Limit => format!("{what}: {e}"),
            _ => format!("{what}: {}", e.summary()),
        };
        TemplateFailure { summary, detail: format!("{what}: {}", e.value_free()), full: format!("{what}: {e}") }
    }

    pub(super) fn plain(text: String) -> Self {
        TemplateFailure { summary: text.clone(), detail: text.clone(), full: text }
    }

    /// Whether the render was abandoned through its cancel flag.
    pub fn cancelled(&self) -> bool {
        self.summary.contains("the render was cancelled")
    }
}

impl fmt::Display for TemplateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Renders one object's templates within [`RenderLimits`]: each render gets what is left of the
/// output and time budgets.
pub(super) struct Budget {
    limits: RenderLimits,
    deadline: Instant,
    used: usize,
}

impl Budget {
    pub(super) fn new(limits: &RenderLimits, cancel: Option<Arc<AtomicBool>>) -> Self {
        let mut limits = limits.clone();
        limits.engine.cancel = cancel.or(limits.engine.cancel);
        Budget { deadline: Instant::now() + limits.max_duration, limits, used: 0 }
    }

    fn renderer(&self) -> Renderer {
        let left = self.limits.max_total_output.saturating_sub(self.used);
        let engine = Limits {
            max_output: self.limits.engine.max_output.min(left),
            max_duration: self.limits.max_duration,
            deadline: Some(self.limits.engine.deadline.map_or(self.deadline, |d| d.min(self.deadline))),
            ..self.limits.engine.clone()
        };
        Renderer::default().with_limits(engine)
    }

    fn spent<T>(&mut self, what: &str, out: Result<T, TemplateError>, size: impl Fn(&T) -> usize) -> Result<T, TemplateFailure> {
        let out = out.map_err(|mut e| {
            // Cut short by what the object's earlier templates used: say so.
            let left = self.limits.max_total_output.saturating_sub(self.used);
            if e.kind == ErrorKind::Limit && e.message.ends_with("(output limit)") && left < self.limits.engine.max_output {
                e.message = format!(
                    "the templates of this ExternalSecret render more than {} bytes together (output limit)",
                    self.limits.max_total_output
                );
            }
            TemplateFailure::render(what, &e)
        })?;
        self.used = self.used.saturating_add(size(&out));
        Ok(out)
    }

    pub(super) fn values(&mut self, what: &str, body: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, TemplateFailure> {
        let out = self.renderer().render(body, data);
        self.spent(what, out, Vec::len)
    }

    pub(super) fn text(&mut self, what: &str, body: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<String, TemplateFailure> {
        let out = self.values(what, body, data)?;
        String::from_utf8(out).map_err(|_| TemplateFailure::plain(format!("{what}: rendered value is not UTF-8")))
    }

    pub(super) fn scoped(
        &mut self,
        what: &str,
        scope: Scope,
        key: &str,
        body: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<BTreeMap<String, Vec<u8>>, TemplateFailure> {
        let out = self.renderer().render_scoped(scope, key, body, data);
        self.spent(what, out, |m| m.iter().map(|(k, v)| k.len() + v.len()).sum())
    }
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, TemplateFailure> {
    String::from_utf8(bytes).map_err(|_| TemplateFailure::plain(format!("{what}: rendered value is not UTF-8")))
}

/// Shapes the Secret from the templates, within `limits`; setting `cancel` abandons the render.
pub fn apply(
    tpl: &ExternalSecretTemplate,
    provider: &BTreeMap<String, Vec<u8>>,
    loaded: &LoadedTemplates,
    limits: &RenderLimits,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<Shaped, TemplateFailure> {
    let templates_data =
        !tpl.data.is_empty() || tpl.template_from.iter().any(|t| t.target.clone().unwrap_or_default() == TemplateTarget::Data);
    let merge = tpl.merge_policy.unwrap_or_default() == TemplateMergePolicy::Merge;
    let mut data = if merge || !templates_data { provider.clone() } else { BTreeMap::new() };
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    let mut budget = Budget::new(limits, cancel);
    // Keys named in the spec may be quoted in errors; keys a template or provider produced may not.
    let mut spec_keys: BTreeSet<&str> = tpl.data.keys().map(String::as_str).collect();

    for (i, from) in tpl.template_from.iter().enumerate() {
        let what = format!("templateFrom[{i}]");
        let mut rendered: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if let Some(literal) = &from.literal {
            rendered.extend(budget.scoped(&what, Scope::KeysAndValues, "", literal, provider)?);
        }
        let items = from.config_map.as_ref().or(from.secret.as_ref()).map(|r| r.items.as_slice()).unwrap_or(&[]);
        let contents = loaded.get(i).cloned().unwrap_or_default();
        for item in items {
            let body = contents.get(&item.key).ok_or_else(|| TemplateFailure::plain(format!("{what}: key {} not found", item.key)))?;
            let scope = match item.template_as.unwrap_or_default() {
                TemplateScope::Values => {
                    spec_keys.insert(&item.key);
                    Scope::Values
                }
                TemplateScope::KeysAndValues => Scope::KeysAndValues,
            };
            rendered.extend(budget.scoped(&format!("{what} key {}", item.key), scope, &item.key, body, provider)?);
        }
        let decoding = from.values_decoding_strategy.unwrap_or_default();
        for value in rendered.values_mut() {
            // The rendered key may come from a value: name the entry only.
            *value = super::keys::decode(std::mem::take(value), decoding)
                .map_err(|e| TemplateFailure::plain(format!("{what}: a rendered {e} (valuesDecodingStrategy)")))?;
        }
        match from.target.clone().unwrap_or_default() {
            TemplateTarget::Data => data.extend(rendered),
            // Refused for Secrets by `validate_spec`; generic targets render in `manifest.rs`.
            TemplateTarget::Path(p) => {
                return Err(TemplateFailure::plain(format!("{what}: target {p:.100} applies to generic targets only")));
            }
            TemplateTarget::Labels => {
                for (k, v) in rendered {
                    labels.insert(k, text(v, &what)?);
                }
            }
            TemplateTarget::Annotations => {
                for (k, v) in rendered {
                    annotations.insert(k, text(v, &what)?);
                }
            }
        }
    }
    for (key, body) in &tpl.data {
        let value = budget.values(&format!("template.data[{key}]"), body, provider)?;
        data.insert(key.clone(), value);
    }
    if let Some(meta) = &tpl.metadata {
        for (k, body) in &meta.labels {
            labels.insert(k.clone(), budget.text(&format!("template.metadata.labels[{k}]"), body, provider)?);
        }
        for (k, body) in &meta.annotations {
            annotations.insert(k.clone(), budget.text(&format!("template.metadata.annotations[{k}]"), body, provider)?);
        }
    }
    for key in data.keys() {
        super::keys::validate_key(key).map_err(|e| {
            let e = if spec_keys.contains(key.as_str()) { e } else { super::keys::unquoted(&e, key) };
            TemplateFailure::plain(format!("template: {e}"))
        })?;
    }
    Ok(Shaped { data, labels: Some(labels), annotations: Some(annotations), type_: tpl.type_.clone() })
}

/// `rewrite[].transform`: render the template with `.value` set to the key. It runs once per
/// remote key on the async path, so its budget is a key's, not a Secret's.
pub fn transform_key(template_body: &str, key: &str) -> Result<String, String> {
    let data: BTreeMap<String, String> = [("value".to_string(), key.to_string())].into();
    let limits = Limits {
        max_output: 4096,
        max_value: 64 * 1024,
        max_memory: 1024 * 1024,
        max_steps: 10_000,
        max_range_iterations: 1_000,
        max_duration: Duration::from_millis(500),
        ..Limits::default()
    };
    let out = Renderer::default().with_limits(limits).render(template_body, &data);
    let out = out.map_err(|e| format!("rewrite transform: {}", e.value_free()))?;
    String::from_utf8(out).map_err(|_| "rewrite transform: rendered key is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(json: serde_json::Value) -> ExternalSecretTemplate {
        serde_json::from_value(json).expect("a template spec")
    }

    fn data() -> BTreeMap<String, Vec<u8>> {
        [("password".to_string(), b"LEAK pw/5e1d!".to_vec())].into()
    }

    fn failure(json: serde_json::Value) -> TemplateFailure {
        apply(&template(json), &data(), &Vec::new(), &RenderLimits::default(), None).expect_err("fails")
    }

    #[test]
    fn the_templates_of_one_object_share_one_output_budget() {
        let label = r#"{{ repeat 1000000 "l" }}"#;
        let f = failure(serde_json::json!({"metadata": {"labels": {"a": label, "b": label, "c": label}}}));
        assert!(f.summary.contains("render more than 2097152 bytes together (output limit)"), "{}", f.summary);
        assert!(f.summary.starts_with("template.metadata.labels[c]"), "{}", f.summary);
    }

    #[test]
    fn a_key_transform_has_a_keys_budget() {
        let bomb = format!("{}{{{{ .value }}}}", "{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}");
        let e = transform_key(&bomb, "k").expect_err("over the budget");
        assert!(e.contains("limit exceeded"), "{e}");
        assert_eq!(transform_key("{{ .value | upper }}", "db-user").as_deref(), Ok("DB-USER"));
    }

    #[test]
    fn a_cancelled_render_says_so() {
        let cancel = Arc::new(AtomicBool::new(true));
        let tpl = template(serde_json::json!({"data": {"out": "{{ .password }}"}}));
        let f = apply(&tpl, &data(), &Vec::new(), &RenderLimits::default(), Some(cancel)).expect_err("cancelled");
        assert!(f.cancelled(), "{}", f.summary);
    }

    #[test]
    fn failures_carry_no_text_the_template_derived_from_a_value() {
        let f = failure(serde_json::json!({"data": {"out": "{{ fail (b64enc .password) }}"}}));
        assert_eq!(f.summary, "template.data[out]: template execution error at 1:4");
        assert!(!f.detail.contains("TEVBSy"), "{}", f.detail);
        assert!(f.full.contains("TEVBSy"), "the author still sees it at the command line: {}", f.full);
        let f = failure(serde_json::json!({"templateFrom": [{"literal": "{{ .password | quote }}: x"}]}));
        assert!(!f.detail.contains("LEAK") && f.detail.contains("a rendered secret key is invalid"), "{}", f.detail);
        // A key the spec names is quoted: it is no secret.
        let f = failure(serde_json::json!({"data": {"bad key": "x"}}));
        assert!(f.detail.contains("invalid secret key \"bad key\""), "{}", f.detail);
    }

    #[test]
    fn values_decoding_strategy_decodes_each_rendered_value_of_its_entry() {
        let tpl = template(serde_json::json!({"templateFrom": [
            {"literal": "raw: {{ .password | b64enc }}", "valuesDecodingStrategy": "Base64"},
            {"literal": "kept: {{ .password | b64enc }}"},
            {"literal": "who: {{ \"team-a\" | b64enc }}", "target": "Labels", "valuesDecodingStrategy": "Auto"},
        ]}));
        let shaped = apply(&tpl, &data(), &Vec::new(), &RenderLimits::default(), None).unwrap();
        assert_eq!(shaped.data["raw"], b"LEAK pw/5e1d!");
        assert_eq!(shaped.data["kept"], b"TEVBSyBwdy81ZTFkIQ==", "None is the default");
        assert_eq!(shaped.labels.unwrap()["who"], "team-a");
        let f = failure(serde_json::json!({"templateFrom": [{"literal": "x: {{ .password }}", "valuesDecodingStrategy": "Base64"}]}));
        assert_eq!(f.summary, "templateFrom[0]: a rendered value is not valid base64 (valuesDecodingStrategy)");
    }
}
