//! ESO's `templateFrom[].…items[].templateAs` scopes.

use std::collections::BTreeMap;

use super::engine::Renderer;
use super::error::TemplateError;

/// How a template's output is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateScope {
    /// The template renders one value.
    Values,
    /// The template renders a YAML map of keys to string values.
    KeysAndValues,
}

impl Renderer {
    /// Renders a template in ESO's `KeysAndValues` scope: the output must be
    /// a YAML map of string keys to string values, as ESO unmarshals it into
    /// a `map[string]string` (null values become empty).
    pub fn render_keys_and_values<V: AsRef<[u8]>>(
        &self,
        template: &str,
        data: &BTreeMap<String, V>,
    ) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
        let out = self.render(template, data)?;
        let text = String::from_utf8(out).map_err(|_| TemplateError::output("KeysAndValues output is not valid UTF-8"))?;
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        let parsed: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|_| TemplateError::output("KeysAndValues output is not a YAML map"))?;
        let serde_json::Value::Object(entries) = parsed else {
            return Err(TemplateError::output("KeysAndValues output is not a YAML map"));
        };
        let mut result = BTreeMap::new();
        for (key, value) in entries {
            let value = match value {
                serde_json::Value::String(s) => s.into_bytes(),
                serde_json::Value::Null => Vec::new(),
                _ => {
                    return Err(TemplateError::output(format!("KeysAndValues value of key \"{key}\" is not a string")));
                }
            };
            result.insert(key, value);
        }
        Ok(result)
    }

    /// Renders `template` in `scope`: `Values` gives one entry under `key`.
    pub fn render_scoped<V: AsRef<[u8]>>(
        &self,
        scope: TemplateScope,
        key: &str,
        template: &str,
        data: &BTreeMap<String, V>,
    ) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
        match scope {
            TemplateScope::Values => Ok(BTreeMap::from([(key.to_owned(), self.render(template, data)?)])),
            TemplateScope::KeysAndValues => self.render_keys_and_values(template, data),
        }
    }
}

/// [`Renderer::render_keys_and_values`] with the default renderer.
pub fn render_keys_and_values<V: AsRef<[u8]>>(
    template: &str,
    data: &BTreeMap<String, V>,
) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
    Renderer::default().render_keys_and_values(template, data)
}

/// [`Renderer::render_scoped`] with the default renderer.
pub fn render_scoped<V: AsRef<[u8]>>(
    scope: TemplateScope,
    key: &str,
    template: &str,
    data: &BTreeMap<String, V>,
) -> Result<BTreeMap<String, Vec<u8>>, TemplateError> {
    Renderer::default().render_scoped(scope, key, template, data)
}
