//! Command-line interface. Every flag of `run` is also an environment variable.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "sesame", version, about = "An External Secrets operator for Kubernetes")]
pub struct Cli {
    /// Log level (a tracing filter: info, debug, sesame=debug,kube=info …).
    #[arg(long, global = true, env = "SESAME_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, env = "SESAME_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (kubeconfig from KUBECONFIG or ~/.kube/config, else in-cluster).
    Run(Box<RunArgs>),
    /// Write the CRDs generated from the API types.
    Crds {
        /// Directory to write into.
        #[arg(long, default_value = "crds")]
        out_dir: PathBuf,
        /// Compare instead of writing; fail if any file is stale.
        #[arg(long)]
        check: bool,
    },
    /// Render one template against local values, as `target.template` would (ESO's `esoctl template`).
    Template {
        /// The template file (Go text/template with sprig and ESO's functions).
        #[arg(short = 't', long = "template")]
        template: PathBuf,
        /// A YAML or JSON map of key → value: the data the template sees (as fetched secrets).
        #[arg(short = 'v', long = "values")]
        values: PathBuf,
        /// Render as `KeysAndValues` (a YAML map of keys to values) instead of one value.
        #[arg(long)]
        keys_and_values: bool,
    },
    /// Render the Secrets that ExternalSecrets in files would produce, with no cluster.
    Render {
        /// Files or directories of YAML manifests (ExternalSecrets, stores, credential Secrets).
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        /// Print secret values (base64, as in a Secret) instead of redacting them.
        #[arg(long)]
        reveal: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "SESAME_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// ExternalSecrets reconciled at once.
    #[arg(long, env = "SESAME_CONCURRENCY", default_value_t = 64)]
    pub concurrency: u16,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "SESAME_NAMESPACE")]
    pub namespace: Option<String>,
    /// Handle stores whose spec.controller is empty or this class.
    #[arg(long, env = "SESAME_CONTROLLER_CLASS", default_value = "default")]
    pub controller_class: String,
    /// Elect one active replica with a Lease.
    #[arg(long, env = "SESAME_LEADER_ELECTION", default_value_t = false)]
    pub enable_leader_election: bool,
    /// Name of the Lease.
    #[arg(long, env = "SESAME_LEADER_ELECTION_ID", default_value = "sesame-leader")]
    pub leader_election_id: String,
    /// Namespace of the Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "SESAME_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long a lease lasts without renewal.
    #[arg(long, env = "SESAME_LEADER_ELECTION_LEASE_DURATION", default_value = "15s")]
    pub leader_election_lease_duration: String,
    /// refreshInterval for ExternalSecrets that set none.
    #[arg(long, env = "SESAME_DEFAULT_REFRESH_INTERVAL", default_value = "1h")]
    pub default_refresh_interval: String,
    /// How often stores are validated when they set no refreshInterval.
    #[arg(long, env = "SESAME_STORE_REQUEUE_INTERVAL", default_value = "5m")]
    pub store_requeue_interval: String,
    /// The longest wait between retries of a failing ExternalSecret.
    #[arg(long, env = "SESAME_MAX_BACKOFF", default_value = "5m")]
    pub max_backoff: String,
    /// Provider calls per second per store, for every store (a store's
    /// `sesame.external-secrets.io/rate-limit-qps` annotation overrides it). Unset: each provider's
    /// documented quota (AWS Secrets Manager 100/s, Parameter Store 40/s, GCP 1500/s, Azure Key
    /// Vault 400/s, Vault/OpenBao and the fake unmetered, others 50/s), halved while the provider
    /// throttles and grown back while it does not.
    #[arg(long, env = "SESAME_STORE_QPS")]
    pub store_qps: Option<u32>,
    /// Burst of provider calls per store (annotation `sesame.external-secrets.io/rate-limit-burst`).
    /// Unset: the provider's quota's, or two seconds' worth of `--store-qps`.
    #[arg(long, env = "SESAME_STORE_BURST")]
    pub store_burst: Option<u32>,
    /// The shortest refreshInterval honoured: shorter ones run at this one, with a Warning Event
    /// (RefreshIntervalRaised). refreshInterval 0 still means "sync once".
    #[arg(long, env = "SESAME_MIN_REFRESH_INTERVAL", default_value = "10s")]
    pub min_refresh_interval: String,
    /// How long a superseded GeneratorState is kept before what its generator created (a Vault
    /// lease …) is cleaned up and the GeneratorState deleted (ESO's flag and default).
    #[arg(long, env = "SESAME_GENERATOR_GC_GRACE_PERIOD", default_value = "2m")]
    pub generator_gc_grace_period: String,
    /// The most remote secrets one dataFrom.find may match; over it the ExternalSecret is Ready=False.
    #[arg(long, env = "SESAME_FIND_MAX_MATCHES", default_value_t = 500)]
    pub find_max_matches: usize,
    /// The most bytes (names and values) one dataFrom.find may read; over it the ExternalSecret is
    /// Ready=False. The default is the 1 MiB a Kubernetes Secret holds.
    #[arg(long, env = "SESAME_FIND_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub find_max_bytes: usize,
    /// Reconcile workers one namespace may hold while other namespaces need them (0: no bound;
    /// ignored with --namespace). A reconcile over its namespace's share retries in under a second.
    #[arg(long, env = "SESAME_NAMESPACE_CONCURRENCY", default_value_t = 16)]
    pub namespace_concurrency: usize,
    /// Provider reads arriving within this window share one (batched) call.
    #[arg(long, env = "SESAME_COALESCE_WINDOW", default_value = "10ms")]
    pub coalesce_window: String,
    /// Refuse SecretStores (namespaced, written by application teams) that would authenticate
    /// as the controller itself: AWS default credential chain, GCP application default
    /// credentials, Azure managed identity or the controller's own workload identity. A
    /// ClusterSecretStore may still use them.
    #[arg(long, env = "SESAME_REFUSE_SECRETSTORE_CONTROLLER_IDENTITY", default_value_t = true, action = clap::ArgAction::Set)]
    pub refuse_secretstore_controller_identity: bool,
    /// Write ExternalSecrets' `target.manifest` objects (ConfigMaps, custom resources), as ESO's
    /// flag of the same name. Off by default: grant the controller RBAC for exactly the kinds
    /// tenants may target (the chart's `genericTargets`). RBAC, admission, workload and
    /// external-secrets.io kinds are refused even when granted.
    #[arg(long, env = "SESAME_UNSAFE_ALLOW_GENERIC_TARGETS", default_value_t = false)]
    pub unsafe_allow_generic_targets: bool,
    /// The directory Infisical GCP IAM Auth may read service-account key files from
    /// (`serviceAccountKeyFilePath`). Unset: key file paths are refused (the key JSON in a Secret
    /// still works). Every store may name any file in it.
    #[arg(long, env = "SESAME_INFISICAL_GCP_KEY_DIR")]
    pub infisical_gcp_key_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub templates: TemplateFlags,
}

/// The flags that bound template rendering: templates come from tenants, and these keep one
/// tenant's template from exhausting the controller's memory or CPU (docs/operations.md,
/// "Multi-tenancy and limits").
#[derive(Debug, Clone, clap::Args)]
pub struct TemplateFlags {
    /// Bytes the templates of one ExternalSecret may render in total (data, labels and annotations).
    #[arg(long, env = "SESAME_TEMPLATE_MAX_OUTPUT", default_value_t = 2 * 1024 * 1024)]
    pub template_max_output: usize,
    /// Time the templates of one ExternalSecret may take in total.
    #[arg(long, env = "SESAME_TEMPLATE_TIMEOUT", default_value = "10s")]
    pub template_timeout: String,
    /// Executed template nodes and function calls per template.
    #[arg(long, env = "SESAME_TEMPLATE_MAX_STEPS", default_value_t = 1_000_000)]
    pub template_max_steps: u64,
    /// Bytes of values the functions of one template may build (what its variables can hold).
    #[arg(long, env = "SESAME_TEMPLATE_MAX_MEMORY", default_value_t = 32 * 1024 * 1024)]
    pub template_max_memory: usize,
    /// Largest value one template function may take or produce, in bytes.
    #[arg(long, env = "SESAME_TEMPLATE_MAX_VALUE", default_value_t = 1024 * 1024)]
    pub template_max_value: usize,
    /// ExternalSecrets rendering templates at the same time (each may use up to
    /// --template-max-memory, plus its output).
    #[arg(long, env = "SESAME_MAX_CONCURRENT_RENDERS", default_value_t = 2)]
    pub max_concurrent_renders: usize,
}
