//! Protocol-faithful fakes of the services the SaaS generators call, each written from the
//! service's public API reference and started per test on `127.0.0.1:0` over plain HTTP. Each
//! file stands alone, so the e2e tests can compile one in by `#[path]`.
pub mod github;
pub mod gitlab;
pub mod grafana;
pub mod oidc;
