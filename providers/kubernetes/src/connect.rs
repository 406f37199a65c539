//! A kube client for the store's cluster, built from the store's server, CA and auth, or from a
//! kubeconfig in a Secret. Either way it goes through an in-memory kubeconfig, so certificates
//! are parsed by kube itself; a tenant's kubeconfig is first stripped to what cannot reach the
//! controller's own files or processes.
use std::time::Duration;

use base64::Engine;
use kube::config::{AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
use sesame_provider_core::{CredentialSource, ProviderError, checks};

use crate::KubernetesProvider;

/// A tenant's kubeconfig may hold at most this much.
const MAX_KUBECONFIG: usize = 256 * 1024;
/// ESO requests ServiceAccount tokens for one hour.
pub(crate) const TOKEN_SECONDS: i64 = 3600;

/// Build a client for the store. Credentials are read now (the caller rebuilds on expiry).
pub(crate) async fn client(spec: &KubernetesProvider, creds: &dyn CredentialSource) -> Result<kube::Client, ProviderError> {
    spec.check_auth()?;
    let kubeconfig = match &spec.auth_ref {
        Some(selector) => {
            let raw = creds.secret_key(selector, None).await?;
            if raw.len() > MAX_KUBECONFIG {
                return Err(ProviderError::Invalid(format!("authRef: the kubeconfig is over {MAX_KUBECONFIG} bytes")));
            }
            let text =
                std::str::from_utf8(raw.as_bytes()).map_err(|_| ProviderError::Invalid("authRef: the kubeconfig is not UTF-8".into()))?;
            let kubeconfig = Kubeconfig::from_yaml(text)
                .map_err(|_| ProviderError::Invalid("authRef: the Secret does not hold a valid kubeconfig".into()))?;
            sanitize(kubeconfig)?
        }
        None => inline(spec, creds).await?,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| ProviderError::Invalid(format!("kubernetes: unusable connection settings: {e}")))?;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(30));
    config.write_timeout = Some(Duration::from_secs(30));
    kube::Client::try_from(config).map_err(|e| ProviderError::Invalid(format!("kubernetes: cannot build a client: {e}")))
}

fn single(cluster: Cluster, user: AuthInfo) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster { name: "remote".into(), cluster: Some(cluster), ..Default::default() }],
        auth_infos: vec![NamedAuthInfo { name: "sesame".into(), auth_info: Some(user), ..Default::default() }],
        contexts: vec![NamedContext {
            name: "remote".into(),
            context: Some(Context { cluster: "remote".into(), user: Some("sesame".into()), ..Default::default() }),
            ..Default::default()
        }],
        current_context: Some("remote".into()),
        ..Default::default()
    }
}

async fn inline(spec: &KubernetesProvider, creds: &dyn CredentialSource) -> Result<Kubeconfig, ProviderError> {
    let server = spec.server_url();
    checks::base_url("server.url", &server, &["https", "http"])?;
    let ca = match (&spec.server.ca_bundle, &spec.server.ca_provider) {
        (Some(bundle), _) if !bundle.is_empty() => Some(bundle.clone()),
        (_, Some(provider)) => Some(base64::engine::general_purpose::STANDARD.encode(creds.ca_bundle(provider).await?)),
        _ => None,
    };
    let cluster = Cluster { server: Some(server), certificate_authority_data: ca, ..Default::default() };
    let auth = spec.auth.as_ref().ok_or_else(|| ProviderError::Invalid("kubernetes: no auth provider given".into()))?;
    let mut user = AuthInfo::default();
    if let Some(token) = &auth.token {
        let value = creds.secret_key(&token.bearer_token, None).await?;
        user.token = Some(text(value.as_bytes(), "auth.token.bearerToken")?.trim().to_string().into());
    } else if let Some(sa) = &auth.service_account {
        let token = creds.service_account_token(sa, &sa.audiences, Some(TOKEN_SECONDS)).await?;
        user.token = Some(token.into());
    } else if let Some(cert) = &auth.cert {
        let pem = creds.secret_key(&cert.client_cert, None).await?;
        let key = creds.secret_key(&cert.client_key, None).await?;
        user.client_certificate_data = Some(base64::engine::general_purpose::STANDARD.encode(pem.as_bytes()));
        user.client_key_data = Some(base64::engine::general_purpose::STANDARD.encode(key.as_bytes()).into());
    }
    Ok(single(cluster, user))
}

fn text(bytes: &[u8], field: &str) -> Result<String, ProviderError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProviderError::Auth(format!("{field}: the value is not UTF-8")))
}

/// Keep the current context's cluster and user, and refuse whatever would make the controller run
/// a command, call a plugin, read its own files, go through a proxy or skip TLS verification.
fn sanitize(kc: Kubeconfig) -> Result<Kubeconfig, ProviderError> {
    let refuse = |why: &str| Err(ProviderError::Invalid(format!("authRef: the kubeconfig {why}, which Sesame does not allow")));
    let context_name = kc.current_context.clone().or_else(|| kc.contexts.first().map(|c| c.name.clone()));
    let context = kc
        .contexts
        .iter()
        .find(|c| Some(&c.name) == context_name.as_ref())
        .and_then(|c| c.context.clone())
        .ok_or_else(|| ProviderError::Invalid("authRef: the kubeconfig has no current context".into()))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| ProviderError::Invalid(format!("authRef: the kubeconfig has no cluster {:?}", context.cluster)))?;
    let user = match &context.user {
        Some(name) => kc.auth_infos.iter().find(|u| &u.name == name).and_then(|u| u.auth_info.clone()).unwrap_or_default(),
        None => AuthInfo::default(),
    };
    if user.exec.is_some() {
        return refuse("runs a command (users[].user.exec)");
    }
    if user.auth_provider.is_some() {
        return refuse("uses an auth-provider plugin");
    }
    if user.token_file.is_some()
        || user.client_certificate.is_some()
        || user.client_key.is_some()
        || cluster.certificate_authority.is_some()
    {
        return refuse("names a local file (tokenFile, client-certificate, client-key or certificate-authority)");
    }
    if user.impersonate.is_some() || user.impersonate_groups.is_some() || user.impersonate_uid.is_some() {
        return refuse("impersonates another user");
    }
    if cluster.proxy_url.is_some() {
        return refuse("sets a proxy-url");
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        return refuse("skips TLS verification");
    }
    let server = cluster.server.clone().ok_or_else(|| ProviderError::Invalid("authRef: the kubeconfig's cluster has no server".into()))?;
    checks::base_url("authRef server", server.trim_end_matches('/'), &["https", "http"])?;
    let cluster = Cluster {
        server: Some(server),
        certificate_authority_data: cluster.certificate_authority_data,
        tls_server_name: cluster.tls_server_name,
        ..Default::default()
    };
    let user = AuthInfo {
        token: user.token,
        client_certificate_data: user.client_certificate_data,
        client_key_data: user.client_key_data,
        username: user.username,
        password: user.password,
        ..Default::default()
    };
    Ok(single(cluster, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str, cluster_extra: &str) -> Kubeconfig {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\nclusters:\n- name: k\n  cluster:\n    server: https://10.0.0.1:6443\n{cluster_extra}users:\n- name: u\n  user:\n{user}"
        );
        Kubeconfig::from_yaml(&yaml).unwrap()
    }

    #[test]
    fn a_token_kubeconfig_is_kept_to_server_ca_and_token() {
        let kc = sanitize(kubeconfig("    token: abc\n", "    certificate-authority-data: Zm9v\n")).unwrap();
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Zm9v"));
        assert!(kc.auth_infos[0].auth_info.as_ref().unwrap().token.is_some());
    }

    #[test]
    fn kubeconfigs_that_reach_the_controllers_processes_or_files_are_refused() {
        for (user, cluster, why) in [
            ("    exec: {command: /bin/sh, args: [-c, id], apiVersion: client.authentication.k8s.io/v1}\n", "", "runs a command"),
            ("    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n", "", "local file"),
            ("    client-certificate: /etc/ssl/x.pem\n", "", "local file"),
            ("    token: abc\n", "    certificate-authority: /etc/ca.pem\n", "local file"),
            ("    token: abc\n", "    proxy-url: http://evil:3128\n", "proxy-url"),
            ("    token: abc\n", "    insecure-skip-tls-verify: true\n", "TLS"),
            ("    as: system:admin\n", "", "impersonates"),
            ("    auth-provider: {name: oidc, config: {}}\n", "", "auth-provider"),
        ] {
            let err = sanitize(kubeconfig(user, cluster)).unwrap_err();
            assert!(matches!(&err, ProviderError::Invalid(m) if m.contains(why)), "{user}{cluster}: {err}");
        }
    }
}
