//! Reads of single variables, group discovery and validation, with ESO's lookup order: the
//! project's variable of the store's environment, then its `*` variable, then each group from
//! the last to the first, the same way.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sesame_provider_core::{CallQuota, FindQuery, FindScope, ProviderContext, ProviderError, RemoteKey, SecretProvider, SecretValue};

use crate::GitlabProvider;
use crate::api::{Api, MAX_PAGES, ProjectGroup, Variable};

/// The `provider` label of the call metrics (ESO's).
pub const PROVIDER_NAME: &str = "GitLab";

/// A client for one GitLab store.
pub struct GitlabClient {
    pub(crate) spec: GitlabProvider,
    pub(crate) api: Api,
    pub(crate) ctx: ProviderContext,
}

/// Build the client of a store: its spec checked, its token read through the tenancy rules.
pub async fn build(spec: &GitlabProvider, ctx: ProviderContext) -> Result<Arc<dyn SecretProvider>, ProviderError> {
    spec.check_spec()?;
    spec.check_urls()?;
    let selector = spec.auth.secret_ref.access_token.as_ref().expect("check_spec requires the access token");
    let token = ctx.credentials.secret_key(selector, None).await?;
    let api = Api::new(spec, token.as_bytes(), ctx.credentials.as_ref()).await?;
    Ok(Arc::new(GitlabClient { spec: spec.clone(), api, ctx }))
}

/// Whether an environment scope matches every environment.
pub(crate) fn is_wildcard(environment: &str) -> bool {
    environment.is_empty() || environment == "*"
}

/// Which kind of variable a request reads.
#[derive(Clone, Copy)]
pub(crate) enum Owner {
    Project,
    Group,
}

impl Owner {
    fn collection(self) -> &'static str {
        match self {
            Owner::Project => "projects",
            Owner::Group => "groups",
        }
    }
}

impl GitlabClient {
    fn environment(&self) -> &str {
        self.spec.environment.as_deref().unwrap_or("")
    }

    /// One variable of a project or group, in the store's environment (then `*`, when the
    /// environment names one and it has no variable of its own).
    async fn get_variable(&self, owner: Owner, id: &str, key: &str) -> Result<Variable, ProviderError> {
        let env = self.environment();
        let first = self.get_scoped(owner, id, key, (!env.is_empty()).then_some(env)).await;
        match first {
            Err(e) if e.is_not_found() && !is_wildcard(env) => self.get_scoped(owner, id, key, Some("*")).await,
            other => other,
        }
    }

    async fn get_scoped(&self, owner: Owner, id: &str, key: &str, scope: Option<&str>) -> Result<Variable, ProviderError> {
        let query: Vec<(&str, &str)> = scope.map(|s| ("filter[environment_scope]", s)).into_iter().collect();
        let call = match owner {
            Owner::Project => "ProjectVariableGet",
            Owner::Group => "GroupVariableGet",
        };
        let path = [owner.collection(), id, "variables", key];
        self.ctx.timed(PROVIDER_NAME, call, self.api.get::<Variable>(&path, &query)).await.map(|(v, _)| v)
    }

    /// Every variable of a project or group, page by page; `each_page` charges a find's budget.
    pub(crate) async fn list_variables(
        &self,
        owner: Owner,
        id: &str,
        scope: Option<&FindScope<'_>>,
    ) -> Result<Vec<Variable>, ProviderError> {
        let call = match owner {
            Owner::Project => "ProjectVariablesList",
            Owner::Group => "GroupVariablesList",
        };
        let mut out = Vec::new();
        let mut page = "1".to_string();
        for _ in 0..MAX_PAGES {
            if let Some(scope) = scope {
                scope.charge(1).await;
            }
            let (path, query) = ([owner.collection(), id, "variables"], [("page", page.as_str()), ("per_page", "100")]);
            let (vars, next) = self.ctx.timed(PROVIDER_NAME, call, self.api.get::<Vec<Variable>>(&path, &query)).await?;
            out.extend(vars);
            match next {
                Some(n) => page = n,
                None => return Ok(out),
            }
        }
        Err(ProviderError::Invalid(format!("{} {id} has more than {MAX_PAGES} pages of variables", owner.collection())))
    }

    /// The groups to read: `groupIDs`, or with `inheritFromGroups` the project's groups, the
    /// outermost first (so the nearest one is read last and wins).
    pub(crate) async fn group_ids(&self) -> Result<Vec<String>, ProviderError> {
        let project = self.spec.project_id.as_deref().unwrap_or("");
        if !self.spec.inherit_from_groups || project.is_empty() {
            return Ok(self.spec.group_ids.clone());
        }
        let mut groups: Vec<ProjectGroup> = Vec::new();
        let mut page = "1".to_string();
        for _ in 0..MAX_PAGES {
            let (path, query) = (["projects", project, "groups"], [("page", page.as_str()), ("per_page", "100")]);
            let (found, next) =
                self.ctx.timed(PROVIDER_NAME, "ListProjectsGroups", self.api.get::<Vec<ProjectGroup>>(&path, &query)).await?;
            groups.extend(found);
            match next {
                Some(n) => page = n,
                None => break,
            }
        }
        groups.sort_by_key(|g| g.full_path.len());
        Ok(groups.into_iter().map(|g| g.id.to_string()).collect())
    }

    /// Cheap proof that the token may list the variables the store reads (ESO's validation).
    async fn check_list(&self, owner: Owner, id: &str) -> Result<(), ProviderError> {
        let call = match owner {
            Owner::Project => "ProjectVariablesList",
            Owner::Group => "GroupVariablesList",
        };
        let (path, query) = ([owner.collection(), id, "variables"], [("per_page", "1")]);
        self.ctx.timed(PROVIDER_NAME, call, self.api.get::<Vec<Variable>>(&path, &query)).await.map(|_| ())
    }
}

#[async_trait]
impl SecretProvider for GitlabClient {
    fn name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn call_quota(&self) -> CallQuota {
        // GitLab.com: 2,000 authenticated API requests per minute per user. (Self-managed
        // instances set their own; a store annotation overrides.)
        CallQuota::per_second(33)
    }

    /// `version` and `metadataPolicy` are ignored, as ESO ignores them for GitLab.
    async fn get_secret(&self, key: &RemoteKey) -> Result<SecretValue, ProviderError> {
        // GitLab variable keys hold no '-': ESO reads `db-password` as `db_password`.
        let name = key.key.replace('-', "_");
        let project = self.spec.project_id.as_deref().filter(|p| !p.is_empty());
        let mut missing = ProviderError::NotFound(format!("variable {name} is not defined in projectID or groupIDs"));
        if let Some(project) = project {
            match self.get_variable(Owner::Project, project, &name).await {
                Ok(v) => return value_of(&name, v),
                Err(e) if e.is_not_found() => missing = e,
                Err(e) => return Err(e),
            }
        }
        for group in self.group_ids().await?.iter().rev() {
            match self.get_variable(Owner::Group, group, &name).await {
                Ok(v) => return value_of(&name, v),
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(missing)
    }

    async fn find(&self, query: &FindQuery, scope: &FindScope<'_>) -> Result<BTreeMap<String, SecretValue>, ProviderError> {
        crate::find::find(self, query, scope).await
    }

    async fn validate(&self) -> Result<(), ProviderError> {
        let wrap = |e: ProviderError| sesame_provider_http::prefixed(e, "could not verify whether the GitLab token is valid");
        if let Some(project) = self.spec.project_id.as_deref().filter(|p| !p.is_empty()) {
            self.check_list(Owner::Project, project).await.map_err(wrap)?;
        }
        for group in self.group_ids().await.map_err(wrap)? {
            self.check_list(Owner::Group, &group).await.map_err(wrap)?;
        }
        Ok(())
    }
}

/// ESO refuses an empty variable: there is nothing to sync.
fn value_of(name: &str, var: Variable) -> Result<SecretValue, ProviderError> {
    if var.value.is_empty() {
        return Err(ProviderError::Invalid(format!("invalid secret received. no secret string for key: {name}")));
    }
    Ok(SecretValue::from(var.value))
}
