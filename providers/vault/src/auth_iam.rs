//! Vault's AWS IAM login: sign an sts:GetCallerIdentity request with the store's AWS
//! credentials and hand it to Vault, which replays it to STS to learn who we are. The AWS
//! credentials come from the AWS provider's chain (static keys, IRSA, the controller's identity,
//! then `role` assumed with them), so both providers authenticate to AWS the same way.
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sesame_provider_aws::{AwsAuth, AwsJwtAuth, AwsProvider, AwsServiceType, ClientOptions};
use sesame_provider_core::{ProviderContext, ProviderError};

use crate::VaultIamAuth;

/// The request Vault replays (the body the AWS SDKs send for GetCallerIdentity).
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const SERVER_ID_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";

/// Regions the AWS SDKs send to the global STS endpoint by default (their "legacy" STS
/// endpoint setting, which Vault's own client uses): Vault's default `sts_endpoint` is global.
const GLOBAL_STS_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The STS URL a region's request is signed for.
pub(crate) fn sts_url(region: &str) -> String {
    if GLOBAL_STS_REGIONS.contains(&region) {
        "https://sts.amazonaws.com/".to_string()
    } else {
        format!("https://sts.{region}.amazonaws.com/")
    }
}

/// The body of `POST auth/<path>/login`.
pub(crate) async fn login_body(iam: &VaultIamAuth, ctx: &ProviderContext) -> Result<Value, ProviderError> {
    let identity = credentials(iam, ctx).await?;
    signed_login(iam, &identity, SystemTime::now())
}

/// AWS credentials as the AWS provider would build them for the same `auth` and `role`.
async fn credentials(iam: &VaultIamAuth, ctx: &ProviderContext) -> Result<Identity, ProviderError> {
    let spec = AwsProvider {
        service: AwsServiceType::SecretsManager,
        region: iam.region().to_string(),
        role: iam.role.clone().filter(|r| !r.is_empty()),
        additional_roles: Vec::new(),
        external_id: iam.external_id.clone().filter(|e| !e.is_empty()),
        session_tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        session_tags_policy: None,
        custom_session_tags: Default::default(),
        prefix: None,
        auth: AwsAuth {
            // jwt wins over secretRef, as in ESO.
            jwt: iam.jwt.as_ref().and_then(|j| j.service_account_ref.clone()).map(|service_account_ref| AwsJwtAuth { service_account_ref }),
            secret_ref: if iam.jwt.is_some() { None } else { iam.secret_ref.clone() },
        },
        secrets_manager: None,
    };
    let config = sesame_provider_aws::sdk_config(&spec, ctx, &ClientOptions::default()).await?;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| ProviderError::Auth("aws iam login: no AWS credentials (neither jwt, secretRef nor the controller's own)".into()))?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        // The chain's message (our own ProviderError inside) names Secrets and roles, never keys.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        ProviderError::Auth(format!("aws iam login: could not get AWS credentials: {text}"))
    })?;
    Ok(creds.into())
}

/// The signed GetCallerIdentity request as Vault's login expects it (every part base64).
pub(crate) fn signed_login(iam: &VaultIamAuth, identity: &Identity, now: SystemTime) -> Result<Value, ProviderError> {
    let region = iam.region();
    let url = sts_url(region);
    let server_id = iam.vault_aws_iam_server_id.as_deref().filter(|s| !s.is_empty());
    let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), CONTENT_TYPE.into())];
    if let Some(id) = server_id {
        headers.push((SERVER_ID_HEADER.into(), id.to_string()));
    }
    let settings = SigningSettings::default();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| ProviderError::Invalid(format!("aws iam login: cannot sign: {e}")))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| ProviderError::Invalid(format!("aws iam login: cannot sign: {e}")))?;
    let (instructions, _signature) =
        sign(signable, &params).map_err(|e| ProviderError::Invalid(format!("aws iam login: cannot sign: {e}")))?.into_parts();
    for (name, value) in instructions.headers() {
        headers.push((name.to_string(), value.to_string()));
    }
    // Vault reads the headers as a JSON object of string lists (Go's http.Header).
    let header_map: serde_json::Map<String, Value> = headers.into_iter().map(|(k, v)| (k, json!([v]))).collect();
    let header_json = serde_json::to_vec(&header_map).unwrap_or_default();
    Ok(json!({
        "role": iam.vault_role,
        "iam_http_request_method": "POST",
        "iam_request_url": STANDARD.encode(url.as_bytes()),
        "iam_request_body": STANDARD.encode(BODY.as_bytes()),
        "iam_request_headers": STANDARD.encode(header_json),
    }))
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    fn iam(region: Option<&str>, server_id: Option<&str>) -> VaultIamAuth {
        VaultIamAuth {
            path: None,
            region: region.map(str::to_string),
            role: None,
            vault_role: "reader".into(),
            external_id: None,
            vault_aws_iam_server_id: server_id.map(str::to_string),
            secret_ref: None,
            jwt: None,
        }
    }

    fn decode(v: &Value, field: &str) -> String {
        String::from_utf8(STANDARD.decode(v[field].as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn the_login_carries_a_signed_get_caller_identity_request_with_the_server_id_header_signed() {
        let identity: Identity = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI", Some("session-token".into()), None, "test").into();
        let body = signed_login(&iam(None, Some("vault.example.com")), &identity, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(body["role"], "reader");
        assert_eq!(body["iam_http_request_method"], "POST");
        assert_eq!(decode(&body, "iam_request_url"), "https://sts.amazonaws.com/");
        assert_eq!(decode(&body, "iam_request_body"), BODY);
        let headers: Value = serde_json::from_str(&decode(&body, "iam_request_headers")).unwrap();
        assert_eq!(headers[SERVER_ID_HEADER][0], "vault.example.com");
        assert_eq!(headers["x-amz-security-token"][0], "session-token");
        let auth = headers["authorization"][0].as_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/us-east-1/sts/aws4_request"), "{auth}");
        assert!(auth.contains("x-vault-aws-iam-server-id"), "the server ID header must be signed: {auth}");
        assert!(!body.to_string().contains("wJalrXUtnFEMI"), "the secret key never leaves the signer");
    }

    #[test]
    fn regions_outside_the_global_sts_set_sign_for_their_regional_endpoint() {
        assert_eq!(sts_url("us-east-1"), "https://sts.amazonaws.com/");
        assert_eq!(sts_url("eu-west-1"), "https://sts.amazonaws.com/");
        assert_eq!(sts_url("af-south-1"), "https://sts.af-south-1.amazonaws.com/");
        assert_eq!(iam(None, None).region(), "us-east-1");
        assert_eq!(iam(None, None).mount(), "aws");
    }
}
