//! Running the generators an ExternalSecret names (`dataFrom[].sourceRef.generatorRef`): the
//! generator object is read from the ExternalSecret's namespace (or cluster-wide for a
//! ClusterGenerator), built by `crate::generators::build`, and run with credentials that resolve
//! in the ExternalSecret's namespace only.
use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use sesame_generator_core::{GeneratorContext, GeneratorError};
use sesame_provider_core::ProviderContext;

use super::Context;
use super::state_ledger::Ledger;
use crate::api::{GENERATORS_API_VERSION, GeneratorRef};
use crate::fetch::{KubeCredentials, Tenancy};
use crate::generators::ClusterGenerator;

/// The API resource of a namespaced generator kind, if this build serves it.
pub fn api_resource(kind: &str) -> Option<ApiResource> {
    let plural = crate::generators::plural(kind)?;
    let gvk = GroupVersionKind::gvk("generators.external-secrets.io", "v1alpha1", kind);
    Some(ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// Runs an ExternalSecret's generators during one sync.
pub struct Runner<'a> {
    ctx: &'a Context,
    namespace: String,
    ledger: &'a Ledger<'a>,
}

impl<'a> Runner<'a> {
    /// Runs generators for an object of `namespace` (an ExternalSecret's or a PushSecret's);
    /// what they create remotely is recorded in `ledger`.
    pub fn new(ctx: &'a Context, namespace: String, ledger: &'a Ledger<'a>) -> Self {
        Runner { ctx, namespace, ledger }
    }

    /// The kind and spec of the generator `r` names, read now.
    async fn resolve(&self, r: &GeneratorRef) -> Result<(String, serde_json::Value), GeneratorError> {
        if r.api_version != GENERATORS_API_VERSION {
            return Err(GeneratorError::Invalid(format!("generatorRef.apiVersion must be {GENERATORS_API_VERSION}")));
        }
        if r.kind == "ClusterGenerator" {
            let api = Api::<ClusterGenerator>::all(self.ctx.client.clone());
            let found = api.get_opt(&r.name).await.map_err(|e| kube_error("ClusterGenerator", &r.name, e))?;
            let cg = found.ok_or_else(|| GeneratorError::Invalid(format!("ClusterGenerator {} not found", r.name)))?;
            return cg.spec.resolve().map_err(|e| GeneratorError::Invalid(format!("ClusterGenerator {}: {e}", r.name)));
        }
        let ar = api_resource(&r.kind)
            .ok_or_else(|| GeneratorError::Invalid(format!("generator kind {} is not supported by Sesame", r.kind)))?;
        let api = Api::<DynamicObject>::namespaced_with(self.ctx.client.clone(), &self.namespace, &ar);
        let found = api.get_opt(&r.name).await.map_err(|e| kube_error(&r.kind, &r.name, e))?;
        let object =
            found.ok_or_else(|| GeneratorError::Invalid(format!("{} {} not found in namespace {}", r.kind, r.name, self.namespace)))?;
        let spec = object.data.get("spec").cloned().unwrap_or_else(|| serde_json::json!({}));
        Ok((r.kind.clone(), spec))
    }

    /// New values from the generator `r` names; what it created remotely is recorded under
    /// `key` (ESO's state key: the dataFrom index, or `__pushsecret`) before they are returned.
    pub async fn generate(&self, key: &str, r: &GeneratorRef) -> Result<BTreeMap<String, Vec<u8>>, GeneratorError> {
        let (kind, spec) = self.resolve(r).await?;
        let generator = crate::generators::build(&kind, spec.clone())?;
        // A namespaced generator is a tenant's object: it may not borrow the controller's identity.
        if r.kind != "ClusterGenerator"
            && self.ctx.clients.refuses_controller_identity()
            && let Some(identity) = generator.controller_identity()
        {
            return Err(GeneratorError::Invalid(format!(
                "a namespaced {kind} may not authenticate as the controller itself ({identity}): name credentials in it, or use a \
                 ClusterGenerator (see --refuse-secretstore-controller-identity)"
            )));
        }
        let gctx = context(self.ctx, &self.namespace);
        let generated = generator.generate(&gctx).await?;
        if let Some(state) = generated.state {
            // The manifest as it is now: the cleanup needs it even if the object is edited or gone.
            let resource = serde_json::json!({
                "apiVersion": GENERATORS_API_VERSION,
                "kind": kind,
                "metadata": {"name": r.name, "namespace": self.namespace},
                "spec": spec,
            });
            self.ledger.record(key, resource, state, generator.as_ref(), &gctx).await?;
        }
        Ok(generated.data)
    }
}

/// Where a generator of `namespace` runs: credentials resolve in that namespace only.
pub fn context(ctx: &Context, namespace: &str) -> GeneratorContext {
    let credentials = Arc::new(KubeCredentials::new(ctx.client.clone(), Tenancy::Namespaced(namespace.to_string())));
    GeneratorContext { namespace: namespace.to_string(), provider: ProviderContext { credentials, calls: ctx.metrics.clone() } }
}

fn kube_error(kind: &str, name: &str, e: kube::Error) -> GeneratorError {
    match &e {
        kube::Error::Api(s) if s.code == 403 => GeneratorError::Auth(format!("reading {kind} {name}: forbidden")),
        kube::Error::Api(s) if s.code == 404 => {
            GeneratorError::Invalid(format!("generator kind {kind} is not installed (its CRD is missing)"))
        }
        _ => GeneratorError::Transient(format!("reading {kind} {name}: {e}")),
    }
}
