//! `dataFrom[].rewrite`: rename keys in order.
use std::collections::BTreeMap;

use crate::api::ExternalSecretRewrite;

/// Apply the rewrites in order to every key. Two keys rewritten to the same name is an error:
/// silently dropping one would lose data.
pub fn rewrite_keys(data: BTreeMap<String, Vec<u8>>, rewrites: &[ExternalSecretRewrite]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    enum Step<'a> {
        Regexp(regex::Regex, &'a str),
        Transform(&'a str),
    }
    let mut steps = Vec::new();
    for (i, r) in rewrites.iter().enumerate() {
        match (&r.regexp, &r.transform) {
            (Some(re), None) => {
                let source = regex::Regex::new(&re.source).map_err(|e| format!("rewrite[{i}].regexp.source: {e}"))?;
                steps.push(Step::Regexp(source, re.target.as_str()));
            }
            (None, Some(t)) => steps.push(Step::Transform(t.template.as_str())),
            _ => return Err(format!("rewrite[{i}] must set exactly one of regexp and transform")),
        }
    }
    let mut out = BTreeMap::new();
    for (key, value) in data {
        let mut new_key = key.clone();
        for step in &steps {
            new_key = match step {
                Step::Regexp(source, target) => source.replace_all(&new_key, *target).into_owned(),
                Step::Transform(template) => super::templating::transform_key(template, &new_key)?,
            };
        }
        if out.insert(new_key.clone(), value).is_some() {
            return Err(format!("rewrite maps two keys to {new_key:?}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RewriteRegexp;

    fn rw(source: &str, target: &str) -> ExternalSecretRewrite {
        ExternalSecretRewrite { regexp: Some(RewriteRegexp { source: source.into(), target: target.into() }), transform: None }
    }

    fn keys(pairs: &[&str]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|k| (k.to_string(), b"v".to_vec())).collect()
    }

    #[test]
    fn rewrites_apply_in_order_with_group_expansion() {
        let out =
            rewrite_keys(keys(&["/app/db/user", "/app/db/pass"]), &[rw("^/app/", ""), rw("/", "_"), rw("^db_(.*)$", "DB_${1}")]).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["DB_pass", "DB_user"]);
    }

    #[test]
    fn a_transform_renders_the_key_through_a_template() {
        let t = ExternalSecretRewrite {
            regexp: None,
            transform: Some(crate::api::RewriteTransform { template: "{{ .value | upper }}".into() }),
        };
        let out = rewrite_keys(keys(&["db-user"]), &[rw("-", "_"), t]).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["DB_USER"]);
    }

    #[test]
    fn a_collision_is_an_error_not_a_lost_key() {
        assert!(rewrite_keys(keys(&["a1", "a2"]), &[rw("[0-9]", "")]).unwrap_err().contains("two keys"));
    }

    #[test]
    fn a_bad_regexp_names_the_entry() {
        assert!(rewrite_keys(keys(&["a"]), &[rw("(", "")]).unwrap_err().starts_with("rewrite[0]"));
    }
}
