//! Checks of everything a platform team installs: the Helm chart, the Kustomize trees, the
//! GitOps example, RBAC, alerts and the dashboard — with the real tools (helm, kubectl,
//! promtool) and the real kube-apiserver that `tests/env/testenv up` started.
//!
//! A missing tool or server is a failure, never a skip. Every test works in its own namespaces
//! (and its own cluster-scoped names where it really creates objects), so the tests run in
//! parallel with each other and with the rest of the workspace's tests.
//!
//! The Argo CD health check test also runs the real controller binary.
//!
//! Run only these: `tests/env/testenv up && cargo test --test deploy`.
mod argocd;
mod as_shipped;
mod cluster;
mod dry_run;
mod getting_started;
mod image;
mod monitoring;
mod promql;
mod rbac;
mod render;
mod switches;
mod tools;
