//! `target.template`: shape the Secret's data, type and metadata with Go templates over the
//! fetched data, with ESO's precedence (highest first): `template.data`, `templateFrom`, the
//! provider's keys (only with `mergePolicy: Merge` or when nothing templates the data).
use std::collections::BTreeMap;

use crate::api::{ExternalSecretTemplate, TemplateMergePolicy, TemplateScope, TemplateTarget};
use sesame_template::{self as template, TemplateScope as Scope};

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

fn err(what: &str, e: template::TemplateError) -> String {
    format!("{what}: {e}")
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{what}: rendered value is not UTF-8"))
}

pub fn apply(tpl: &ExternalSecretTemplate, provider: &BTreeMap<String, Vec<u8>>, loaded: &LoadedTemplates) -> Result<Shaped, String> {
    let templates_data = !tpl.data.is_empty() || tpl.template_from.iter().any(|t| t.target.unwrap_or_default() == TemplateTarget::Data);
    let merge = tpl.merge_policy.unwrap_or_default() == TemplateMergePolicy::Merge;
    let mut data = if merge || !templates_data { provider.clone() } else { BTreeMap::new() };
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();

    for (i, from) in tpl.template_from.iter().enumerate() {
        let what = format!("templateFrom[{i}]");
        let mut rendered: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if let Some(literal) = &from.literal {
            rendered.extend(template::render_keys_and_values(literal, provider).map_err(|e| err(&what, e))?);
        }
        let items = from.config_map.as_ref().or(from.secret.as_ref()).map(|r| r.items.as_slice()).unwrap_or(&[]);
        let contents = loaded.get(i).cloned().unwrap_or_default();
        for item in items {
            let body = contents.get(&item.key).ok_or_else(|| format!("{what}: key {} not found", item.key))?;
            let scope = match item.template_as.unwrap_or_default() {
                TemplateScope::Values => Scope::Values,
                TemplateScope::KeysAndValues => Scope::KeysAndValues,
            };
            let out = template::render_scoped(scope, &item.key, body, provider).map_err(|e| err(&format!("{what} key {}", item.key), e))?;
            rendered.extend(out);
        }
        match from.target.unwrap_or_default() {
            TemplateTarget::Data => data.extend(rendered),
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
        let value = template::render(body, provider).map_err(|e| err(&format!("template.data[{key}]"), e))?;
        data.insert(key.clone(), value);
    }
    if let Some(meta) = &tpl.metadata {
        for (k, body) in &meta.labels {
            labels
                .insert(k.clone(), template::render_string(body, provider).map_err(|e| err(&format!("template.metadata.labels[{k}]"), e))?);
        }
        for (k, body) in &meta.annotations {
            annotations.insert(
                k.clone(),
                template::render_string(body, provider).map_err(|e| err(&format!("template.metadata.annotations[{k}]"), e))?,
            );
        }
    }
    for key in data.keys() {
        super::keys::validate_key(key).map_err(|e| format!("template: {e}"))?;
    }
    Ok(Shaped { data, labels: Some(labels), annotations: Some(annotations), type_: tpl.type_.clone() })
}

/// `rewrite[].transform`: render the template with `.value` set to the key.
pub fn transform_key(template_body: &str, key: &str) -> Result<String, String> {
    let data: BTreeMap<String, String> = [("value".to_string(), key.to_string())].into();
    template::render_string(template_body, &data).map_err(|e| format!("rewrite transform: {e}"))
}
