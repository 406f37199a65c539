//! `sesame render`: run the controller's pipeline on manifests from files, with no cluster.
//! ClusterExternalSecrets and ClusterPushSecrets render as the children they would write into
//! the namespaces (Namespace objects in the files, or named outright) they select.
//! Stores, ExternalSecrets and the Secrets holding store credentials come from the files; the
//! same tenancy rules apply as in the cluster.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use sesame_provider_core::{
    CaProvider, CredentialSource, FindQuery, NoCalls, ProviderContext, ProviderError, RemoteKey, SecretKeySelector, SecretProvider,
    SecretValue, ServiceAccountSelector,
};

use crate::api::{ClusterSecretStore, ExternalSecret, SecretStore, StoreKind};
use crate::pipeline::{self, Source};

mod fleet;

/// Every object found in the input files.
#[derive(Default)]
pub struct Manifests {
    pub external_secrets: Vec<ExternalSecret>,
    pub stores: Vec<SecretStore>,
    pub cluster_stores: Vec<ClusterSecretStore>,
    pub secrets: Vec<Secret>,
    pub config_maps: Vec<ConfigMap>,
    pub push_secrets: Vec<crate::api::PushSecret>,
    /// Namespaces (their labels decide what ClusterExternalSecrets and ClusterPushSecrets select).
    pub namespaces: Vec<k8s_openapi::api::core::v1::Namespace>,
    pub cluster_external_secrets: Vec<crate::api::ClusterExternalSecret>,
    pub cluster_push_secrets: Vec<crate::api::ClusterPushSecret>,
    /// Generator objects (any generator kind, and ClusterGenerators) as written.
    pub generators: Vec<serde_json::Value>,
}

impl Manifests {
    /// Whether the files hold nothing to render.
    pub fn is_empty(&self) -> bool {
        self.external_secrets.is_empty()
            && self.push_secrets.is_empty()
            && self.cluster_external_secrets.is_empty()
            && self.cluster_push_secrets.is_empty()
    }
}

/// Read YAML files (a file, or every .yaml/.yml file in a directory, sorted).
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Manifests> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    let mut out = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            add(&mut out, doc, &file)?;
        }
    }
    Ok(out)
}

fn add(out: &mut Manifests, doc: serde_json::Value, file: &Path) -> anyhow::Result<()> {
    let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
    let err = |e: serde_json::Error| anyhow::anyhow!("{}: invalid {kind}: {e}", file.display());
    let mut with_ns = doc;
    if with_ns.pointer("/metadata/namespace").is_none()
        && !matches!(kind.as_str(), "ClusterSecretStore" | "ClusterGenerator" | "Namespace" | "ClusterExternalSecret" | "ClusterPushSecret")
        && let Some(m) = with_ns.get_mut("metadata").and_then(|m| m.as_object_mut())
    {
        m.insert("namespace".into(), "default".into());
    }
    match kind.as_str() {
        "ExternalSecret" => out.external_secrets.push(serde_json::from_value(with_ns).map_err(err)?),
        "SecretStore" => out.stores.push(serde_json::from_value(with_ns).map_err(err)?),
        "ClusterSecretStore" => out.cluster_stores.push(serde_json::from_value(with_ns).map_err(err)?),
        "Secret" => out.secrets.push(serde_json::from_value(with_ns).map_err(err)?),
        "ConfigMap" => out.config_maps.push(serde_json::from_value(with_ns).map_err(err)?),
        "PushSecret" => out.push_secrets.push(serde_json::from_value(with_ns).map_err(err)?),
        "Namespace" => out.namespaces.push(serde_json::from_value(with_ns).map_err(err)?),
        "ClusterExternalSecret" => out.cluster_external_secrets.push(serde_json::from_value(with_ns).map_err(err)?),
        "ClusterPushSecret" => out.cluster_push_secrets.push(serde_json::from_value(with_ns).map_err(err)?),
        _ if with_ns.get("apiVersion").and_then(|v| v.as_str()) == Some(crate::api::GENERATORS_API_VERSION) => out.generators.push(with_ns),
        _ => {}
    }
    Ok(())
}

/// Credentials from Secrets in the input files, under the same namespace rules as the cluster.
struct FileCredentials {
    secrets: HashMap<(String, String), Secret>,
    store_namespace: Option<String>,
    es_namespace: String,
}

impl FileCredentials {
    /// The Secret `sel` names, with the tenancy rule of `secret_key`.
    fn whole_secret(&self, sel: &SecretKeySelector) -> Result<&Secret, ProviderError> {
        let ns = match (&self.store_namespace, &sel.namespace) {
            (Some(own), Some(ns)) if own != ns => {
                return Err(ProviderError::Auth(format!(
                    "a SecretStore in namespace {own} may not read secret {} from namespace {ns}",
                    sel.name
                )));
            }
            (_, Some(ns)) => ns.clone(),
            (Some(own), None) => own.clone(),
            (None, None) => self.es_namespace.clone(),
        };
        self.secrets
            .get(&(ns.clone(), sel.name.clone()))
            .ok_or_else(|| ProviderError::Auth(format!("secret {ns}/{} is not in the input files", sel.name)))
    }
}

#[async_trait]
impl CredentialSource for FileCredentials {
    async fn secret_key(&self, sel: &SecretKeySelector, default_key: Option<&str>) -> Result<SecretValue, ProviderError> {
        let ns = match (&self.store_namespace, &sel.namespace) {
            (Some(own), Some(ns)) if own != ns => {
                return Err(ProviderError::Auth(format!(
                    "a SecretStore in namespace {own} may not read secret {} from namespace {ns}",
                    sel.name
                )));
            }
            (_, Some(ns)) => ns.clone(),
            (Some(own), None) => own.clone(),
            (None, None) => self.es_namespace.clone(),
        };
        let key = sel.key.as_deref().or(default_key).unwrap_or_default();
        let secret = self
            .secrets
            .get(&(ns.clone(), sel.name.clone()))
            .ok_or_else(|| ProviderError::Auth(format!("secret {ns}/{} is not in the input files", sel.name)))?;
        if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
            return Ok(SecretValue::from(v.0.clone()));
        }
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| SecretValue::from(v.as_str()))
            .ok_or_else(|| ProviderError::Auth(format!("secret {ns}/{} has no key {key}", sel.name)))
    }

    async fn secret_data(&self, sel: &SecretKeySelector) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        let secret = self.whole_secret(sel)?;
        let mut out: BTreeMap<String, SecretValue> =
            secret.string_data.iter().flatten().map(|(k, v)| (k.clone(), SecretValue::from(v.as_str()))).collect();
        out.extend(secret.data.iter().flatten().map(|(k, v)| (k.clone(), SecretValue::from(v.0.clone()))));
        Ok(out)
    }

    async fn secret_labels(&self, sel: &SecretKeySelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self.whole_secret(sel)?.metadata.labels.clone().unwrap_or_default())
    }

    async fn service_account_token(&self, sel: &ServiceAccountSelector, _: &[String], _: Option<i64>) -> Result<String, ProviderError> {
        Err(ProviderError::Auth(format!("serviceaccount {} tokens need a cluster; render cannot mint them", sel.name)))
    }

    async fn service_account_annotations(&self, sel: &ServiceAccountSelector) -> Result<BTreeMap<String, String>, ProviderError> {
        Err(ProviderError::Auth(format!("serviceaccount {} needs a cluster; render cannot read it", sel.name)))
    }

    async fn ca_bundle(&self, p: &CaProvider) -> Result<Vec<u8>, ProviderError> {
        Err(ProviderError::Invalid(format!("caProvider {} needs a cluster; use caBundle with render", p.name)))
    }
}

struct Direct(Arc<dyn SecretProvider>);

#[async_trait]
impl Source for Direct {
    async fn get(&self, key: RemoteKey) -> Result<SecretValue, ProviderError> {
        self.0.get_secret(&key).await
    }
    async fn find(&self, query: &FindQuery) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        // The controller's default limits, with no budget: render reads once, offline of any cluster.
        self.0.find(query, &sesame_provider_core::FindScope::unmetered()).await
    }
    fn applies_property(&self) -> bool {
        self.0.applies_property()
    }
    async fn get_map(&self, key: RemoteKey) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        self.0.get_secret_map(&key).await
    }
}

/// The stores one ExternalSecret reads from, and the generators in the input files.
struct FileSources<'a> {
    m: &'a Manifests,
    ns: &'a str,
    secrets: &'a HashMap<(String, String), Secret>,
    default: Option<crate::api::StoreKey>,
    stores: Vec<(crate::api::StoreKey, Direct)>,
}

#[async_trait]
impl pipeline::Sources for FileSources<'_> {
    fn store(&self, store: Option<&crate::api::SecretStoreRef>) -> Result<&dyn Source, String> {
        let key = store.map(|r| r.key()).or_else(|| self.default.clone()).ok_or("spec.secretStoreRef is not set")?;
        let found = self.stores.iter().find(|(k, _)| *k == key).map(|(_, s)| s as &dyn Source);
        found.ok_or_else(|| format!("{} {} is not in the input files", key.1.as_str(), key.0))
    }

    async fn generate(&self, _: usize, r: &crate::api::GeneratorRef) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        let cluster = r.kind == "ClusterGenerator";
        let object = self
            .m
            .generators
            .iter()
            .find(|g| {
                g["kind"] == r.kind.as_str()
                    && g.pointer("/metadata/name").and_then(|n| n.as_str()) == Some(r.name.as_str())
                    && (cluster || g.pointer("/metadata/namespace").and_then(|n| n.as_str()) == Some(self.ns))
            })
            .ok_or_else(|| ProviderError::Invalid(format!("{} {} is not in the input files", r.kind, r.name)))?;
        let spec = object.get("spec").cloned().unwrap_or_else(|| serde_json::json!({}));
        let (kind, spec) = if cluster {
            let spec: crate::generators::ClusterGeneratorSpec =
                serde_json::from_value(spec).map_err(|e| ProviderError::Invalid(format!("invalid ClusterGenerator {}: {e}", r.name)))?;
            spec.resolve().map_err(ProviderError::Invalid)?
        } else {
            (r.kind.clone(), spec)
        };
        let generator = crate::generators::build(&kind, spec)?;
        let credentials = Arc::new(FileCredentials {
            secrets: self.secrets.clone(),
            store_namespace: Some(self.ns.to_string()),
            es_namespace: self.ns.to_string(),
        });
        let ctx = sesame_generator_core::GeneratorContext {
            namespace: self.ns.to_string(),
            provider: ProviderContext { credentials, calls: Arc::new(NoCalls) },
        };
        // Render keeps no GeneratorState: what a generator created remotely (a Vault lease …) is
        // released at once, so the rendered values are a preview that no longer works.
        let generated = generator.generate(&ctx).await?;
        if let Some(state) = &generated.state {
            generator.cleanup(state, &ctx).await.map_err(|e| {
                ProviderError::Invalid(format!("{} {} created remote state that render could not clean up: {e}", r.kind, r.name))
            })?;
            eprintln!(
                "note: {} {} created remote state (a lease …): render released it, so the rendered values are revoked",
                r.kind, r.name
            );
        }
        Ok(generated.data)
    }
}

/// Render every ExternalSecret to the Secret the controller would write, as YAML documents.
/// Errors are reported per ExternalSecret; the result is Err when any failed.
pub async fn render(m: &Manifests, reveal: bool) -> (String, Vec<String>) {
    let secrets: HashMap<(String, String), Secret> =
        m.secrets.iter().map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s.clone())).collect();
    let mut docs = Vec::new();
    // The children of ClusterExternalSecrets and ClusterPushSecrets render as if they were in the files.
    let (fleet_external_secrets, fleet_push_secrets, mut errors) = fleet::expand_all(m);
    for es in m.external_secrets.iter().chain(&fleet_external_secrets) {
        let ns = es.namespace().unwrap_or_default();
        match render_one(m, es, &ns, &secrets).await {
            Ok(secret) => docs.push(to_yaml(&secret, reveal)),
            Err(e) => errors.push(format!("ExternalSecret {ns}/{}: {e}", es.name_any())),
        }
    }
    for ps in m.push_secrets.iter().chain(&fleet_push_secrets) {
        let ns = ps.namespace().unwrap_or_default();
        match plan_push(m, ps, &ns, reveal) {
            Ok(plan) => docs.push(serde_saphyr::to_string(&plan).expect("YAML serialises")),
            Err(e) => errors.push(format!("PushSecret {ns}/{}: {e}", ps.name_any())),
        }
    }
    (docs.join("---\n"), errors)
}

/// What a PushSecret would write (nothing is written): each store and remote key with the value
/// redacted unless `reveal`. Source Secrets, template sources and label-selected stores come from
/// the input files.
fn plan_push(m: &Manifests, ps: &crate::api::PushSecret, ns: &str, reveal: bool) -> anyhow::Result<serde_json::Value> {
    use kube::core::{Selector, SelectorExt};
    let selector = ps.spec.selector.secret.clone().unwrap_or_default();
    let in_ns = |s: &&Secret| s.namespace().as_deref() == Some(ns);
    let sources: Vec<&Secret> = match (selector.name.filter(|n| !n.is_empty()), selector.selector) {
        (Some(name), _) => vec![
            m.secrets
                .iter()
                .filter(in_ns)
                .find(|s| s.name_any() == name)
                .ok_or_else(|| anyhow::anyhow!("secret {name} is not in the input files"))?,
        ],
        (None, Some(labels)) => {
            let labels = Selector::try_from(labels)?;
            m.secrets.iter().filter(in_ns).filter(|s| labels.matches(s.labels())).collect()
        }
        (None, None) => anyhow::bail!("selector.secret needs a name or a selector"),
    };
    crate::pipeline::push::validate_data_to(&ps.spec).map_err(anyhow::Error::msg)?;
    let no_labels = BTreeMap::new();
    let mut stores: Vec<(String, String, BTreeMap<String, String>)> = Vec::new();
    for r in &ps.spec.secret_store_refs {
        let kind = r.kind.clone().unwrap_or_else(|| "SecretStore".into());
        let listed: Vec<(String, BTreeMap<String, String>)> = if kind == "ClusterSecretStore" {
            m.cluster_stores.iter().map(|s| (s.name_any(), s.labels().clone())).collect()
        } else {
            m.stores.iter().filter(|s| s.namespace().as_deref() == Some(ns)).map(|s| (s.name_any(), s.labels().clone())).collect()
        };
        match (&r.name, &r.label_selector) {
            (Some(name), _) => {
                let labels = listed.iter().find(|(n, _)| n == name).map(|(_, l)| l.clone()).unwrap_or_else(|| no_labels.clone());
                stores.push((kind, name.clone(), labels));
            }
            (None, Some(selector)) => {
                let selector = Selector::try_from(selector.clone())?;
                stores.extend(listed.into_iter().filter(|(_, l)| selector.matches(l)).map(|(n, l)| (kind.clone(), n, l)));
            }
            (None, None) => anyhow::bail!("a secretStoreRefs entry names neither a store nor a labelSelector"),
        }
    }
    let mut writes = Vec::new();
    for source in sources {
        let mut data: BTreeMap<String, Vec<u8>> =
            source.string_data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        data.extend(source.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
        if let Some(t) = &ps.spec.template {
            // As ESO: the template writes over the Secret's own keys, which stay.
            let merged = crate::api::ExternalSecretTemplate { merge_policy: Some(crate::api::TemplateMergePolicy::Merge), ..t.clone() };
            let loaded = load_templates(m, &t.template_from, ns)?;
            data = pipeline::apply_template(&merged, &data, &loaded, &pipeline::RenderLimits::default(), None)
                .map_err(|e| anyhow::anyhow!("could not render template: {}", e.full))?
                .data;
        }
        for (kind, name, labels) in &stores {
            let info = crate::pipeline::push::StoreInfo { kind, name, labels };
            for w in crate::pipeline::push::plan(&ps.spec, &info, &data).map_err(anyhow::Error::msg)? {
                let shown =
                    if reveal { String::from_utf8_lossy(&w.value).into_owned() } else { format!("<redacted: {} bytes>", w.value.len()) };
                let remote = &w.entry.r#match.remote_ref;
                writes.push(serde_json::json!({"store": format!("{kind}/{name}"), "remoteKey": remote.remote_key, "property": remote.property, "value": shown}));
            }
        }
    }
    Ok(serde_json::json!({"pushSecret": format!("{ns}/{}", ps.name_any()), "wouldWrite": writes}))
}

async fn render_one(m: &Manifests, es: &ExternalSecret, ns: &str, secrets: &HashMap<(String, String), Secret>) -> anyhow::Result<Secret> {
    pipeline::refuse_privileged_template(es.spec.target.template.as_deref()).map_err(anyhow::Error::msg)?;
    if let Some(m) = &es.spec.target.manifest {
        anyhow::bail!(
            "target.manifest ({:.100} {:.100}): render shows Secret targets only (generic targets are written by the controller)",
            m.api_version,
            m.kind
        );
    }
    if es.spec.uses_spec_store() && es.spec.secret_store_ref.as_ref().is_none_or(|r| r.name.is_empty()) {
        anyhow::bail!("spec.secretStoreRef is required unless every entry names its own source in sourceRef");
    }
    let mut stores = Vec::new();
    for (name, kind) in es.store_refs() {
        let (spec, store_namespace) = match kind {
            StoreKind::SecretStore => m
                .stores
                .iter()
                .find(|s| s.name_any() == name && s.namespace().as_deref() == Some(ns))
                .map(|s| (s.spec.clone(), Some(ns.to_string()))),
            StoreKind::ClusterSecretStore => m.cluster_stores.iter().find(|s| s.name_any() == name).map(|s| (s.spec.store.clone(), None)),
        }
        .ok_or_else(|| anyhow::anyhow!("{} {name} is not in the input files", kind.as_str()))?;
        let credentials = Arc::new(FileCredentials { secrets: secrets.clone(), store_namespace, es_namespace: ns.to_string() });
        let used = crate::providers::StoreUse { kind: kind.as_str().to_string(), name: name.clone(), namespace: ns.to_string() };
        let provider = crate::providers::build(&spec, &used, ProviderContext { credentials, calls: Arc::new(NoCalls) }).await?;
        stores.push(((name, kind), Direct(provider)));
    }
    let sources = FileSources { m, ns, secrets, default: es.spec.secret_store_ref.as_ref().map(|r| r.key()), stores };
    let fetched = pipeline::fetch_from(&es.spec, &sources).await?;
    let shaped = match &es.spec.target.template {
        Some(tpl) => {
            let loaded = load_templates(m, &tpl.template_from, ns)?;
            // The author's own files: the full message, `fail` text included.
            pipeline::apply_template(tpl, &fetched.data, &loaded, &pipeline::RenderLimits::default(), None)
                .map_err(|e| anyhow::anyhow!("could not render template: {}", e.full))?
        }
        None => pipeline::Shaped::plain(fetched.data),
    };
    Ok(crate::controller::desired_secret(es, &shaped))
}

/// `templateFrom` sources from the input files, in the object's namespace.
fn load_templates(m: &Manifests, template_from: &[crate::api::TemplateFrom], ns: &str) -> anyhow::Result<pipeline::LoadedTemplates> {
    let mut loaded = Vec::new();
    for from in template_from {
        let contents: BTreeMap<String, String> = if let Some(cm) = &from.config_map {
            m.config_maps
                .iter()
                .find(|c| c.name_any() == cm.name && c.namespace().as_deref() == Some(ns))
                .ok_or_else(|| anyhow::anyhow!("configmap {} is not in the input files", cm.name))?
                .data
                .clone()
                .unwrap_or_default()
        } else if let Some(sec) = &from.secret {
            let s = m
                .secrets
                .iter()
                .find(|s| s.name_any() == sec.name && s.namespace().as_deref() == Some(ns))
                .ok_or_else(|| anyhow::anyhow!("secret {} is not in the input files", sec.name))?;
            let mut out: BTreeMap<String, String> = s.string_data.clone().unwrap_or_default();
            for (k, v) in s.data.clone().unwrap_or_default() {
                out.insert(k, String::from_utf8(v.0).map_err(|_| anyhow::anyhow!("secret {} key is not UTF-8", sec.name))?);
            }
            out
        } else {
            BTreeMap::new()
        };
        loaded.push(contents);
    }
    Ok(loaded)
}

fn to_yaml(secret: &Secret, reveal: bool) -> String {
    let mut value = serde_json::to_value(secret).expect("a Secret serialises");
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    if let Some(data) = value.get_mut("data").and_then(|d| d.as_object_mut()) {
        for (k, v) in data.iter_mut() {
            let len = secret.data.as_ref().and_then(|d| d.get(k)).map(|b| b.0.len()).unwrap_or(0);
            *v = if reveal {
                base64::engine::general_purpose::STANDARD
                    .encode(secret.data.as_ref().and_then(|d| d.get(k)).map(|b| b.0.clone()).unwrap_or_default())
                    .into()
            } else {
                format!("<redacted: {len} bytes>").into()
            };
        }
    }
    serde_saphyr::to_string(&value).expect("YAML serialises")
}
