//! Adding and removing one finalizer without clobbering anyone else's.
//!
//! A merge patch replaces the whole `finalizers` list, so it carries the `resourceVersion` it was
//! computed from. The cached copy is often one write behind (our own status patch, another
//! controller's finalizer): a 409 then means "look again", not "fail". Reading the object afresh
//! and recomputing settles it at once instead of waiting for the error requeue, which under load
//! was long enough for a deletion to look stuck.
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Attempts before giving up to the error requeue: each one reads the object afresh, so more
/// than a few means a writer is racing us continually.
const ATTEMPTS: usize = 4;

/// Makes `finalizer` present (`want`) or absent on `obj`. Ok when the object is already so or is
/// gone.
pub async fn set<K>(api: &Api<K>, obj: &K, finalizer: &str, want: bool) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = obj.name_any();
    let mut current = (obj.finalizers().to_vec(), obj.resource_version());
    for attempt in 1..=ATTEMPTS {
        let (finalizers, version) = &current;
        let Some(next) = edited(finalizers, finalizer, want) else { return Ok(()) };
        let patch = serde_json::json!({"metadata": {"finalizers": next, "resourceVersion": version}});
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < ATTEMPTS => match api.get_opt(&name).await? {
                Some(fresh) => current = (fresh.finalizers().to_vec(), fresh.resource_version()),
                None => return Ok(()),
            },
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

/// The finalizer list with `finalizer` present or absent, or None when it already is.
fn edited(finalizers: &[String], finalizer: &str, want: bool) -> Option<Vec<String>> {
    let has = finalizers.iter().any(|f| f == finalizer);
    if has == want {
        return None;
    }
    let mut next: Vec<String> = finalizers.iter().filter(|f| *f != finalizer).cloned().collect();
    if want {
        next.push(finalizer.to_string());
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::edited;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn adding_keeps_other_finalizers_and_appends_ours() {
        assert_eq!(edited(&list(&["a"]), "ours", true), Some(list(&["a", "ours"])));
    }

    #[test]
    fn removing_keeps_other_finalizers_in_order() {
        assert_eq!(edited(&list(&["a", "ours", "b"]), "ours", false), Some(list(&["a", "b"])));
    }

    #[test]
    fn nothing_to_write_when_already_so() {
        assert_eq!(edited(&list(&["ours"]), "ours", true), None);
        assert_eq!(edited(&list(&["a"]), "ours", false), None);
    }
}
