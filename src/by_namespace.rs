//! Per-object facts keyed by namespace and name, with each namespace's name stored once: the
//! controller's memory and its per-object metrics hold one small record per ExternalSecret, and a
//! key of two owned strings per record and per map would cost more than the record.
use std::collections::HashMap;

/// name → value, for one namespace.
pub type Names<V> = HashMap<Box<str>, V>;

/// namespace → name → value; the namespace string is shared by all of its objects.
pub struct ByNamespace<V>(HashMap<Box<str>, Names<V>>);

impl<V> Default for ByNamespace<V> {
    fn default() -> Self {
        ByNamespace(HashMap::new())
    }
}

impl<V: Default> ByNamespace<V> {
    pub fn entry(&mut self, namespace: &str, name: &str) -> &mut V {
        if !self.0.contains_key(namespace) {
            self.0.insert(namespace.into(), Names::new());
        }
        let names = self.0.get_mut(namespace).expect("inserted above");
        if !names.contains_key(name) {
            names.insert(name.into(), V::default());
        }
        names.get_mut(name).expect("inserted above")
    }

    /// Drops the entry once `keep` says it holds nothing.
    pub fn update(&mut self, namespace: &str, name: &str, change: impl FnOnce(&mut V), keep: impl Fn(&V) -> bool) {
        let value = self.entry(namespace, name);
        change(value);
        if !keep(value) {
            self.remove(namespace, name);
        }
    }
}

impl<V> ByNamespace<V> {
    pub fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        self.0.get(namespace)?.get(name)
    }

    pub fn insert(&mut self, namespace: &str, name: &str, value: V) {
        match self.0.get_mut(namespace) {
            Some(names) => {
                names.insert(name.into(), value);
            }
            None => {
                self.0.insert(namespace.into(), Names::from([(name.into(), value)]));
            }
        }
    }

    pub fn remove(&mut self, namespace: &str, name: &str) {
        if let Some(names) = self.0.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                self.0.remove(namespace);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.values().map(HashMap::len).sum()
    }

    /// Every `(namespace, name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &V)> {
        self.0.iter().flat_map(|(ns, names)| names.iter().map(move |(name, v)| (&**ns, &**name, v)))
    }
}
