//! `dataFrom[].rewrite`: rename keys in order.
use std::collections::BTreeMap;

use crate::api::ExternalSecretRewrite;

/// Apply the rewrites in order to the whole map. Two keys renamed to the same name is an error:
/// silently dropping one would lose data.
pub fn rewrite_keys(data: BTreeMap<String, Vec<u8>>, rewrites: &[ExternalSecretRewrite]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut data = data;
    for (i, r) in rewrites.iter().enumerate() {
        data = match (&r.merge, &r.regexp, &r.transform) {
            (Some(m), None, None) => super::merge::merge(m, data).map_err(|e| format!("rewrite[{i}].merge: {e}"))?,
            (None, Some(re), None) => {
                let source = regex::Regex::new(&re.source).map_err(|e| format!("rewrite[{i}].regexp.source: {e}"))?;
                rename(data, |k| Ok(source.replace_all(k, re.target.as_str()).into_owned()))?
            }
            (None, None, Some(t)) => rename(data, |k| super::templating::transform_key(&t.template, k))?,
            _ => return Err(format!("rewrite[{i}] must set exactly one of merge, regexp and transform")),
        };
    }
    Ok(data)
}

fn rename(data: BTreeMap<String, Vec<u8>>, new_name: impl Fn(&str) -> Result<String, String>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in data {
        let new_key = new_name(&key)?;
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
        ExternalSecretRewrite { regexp: Some(RewriteRegexp { source: source.into(), target: target.into() }), ..Default::default() }
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
            transform: Some(crate::api::RewriteTransform { template: "{{ .value | upper }}".into() }),
            ..Default::default()
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
