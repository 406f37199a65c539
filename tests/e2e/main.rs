//! End-to-end tests: the real `sesame` binary against the real kube-apiserver started by
//! `tests/env/testenv`. Each test owns its namespace(s) and a controller class, and runs its own
//! sesame process, so tests run in parallel without touching each other's objects. Every
//! controller runs under the ClusterRole that deploy/ ships, with a ServiceAccount token from a
//! real TokenRequest, never as cluster-admin (identity.rs says what else it is granted, and why).
mod harness;
mod identity;

mod attacker_limits;
mod aws_generators;
mod aws_session_tags;
mod cloud;
mod cluster_external_secret;
mod cluster_push_secret;
mod es_fields;
mod faults;
mod first_sync_waves;
mod generator_state;
mod generators;
mod generators_cloud;
mod generic_targets;
mod hostile_templates;
mod kubernetes_provider;
mod leader;
mod migration;
mod observability;
mod openbao_store;
mod ownership;
mod policies;
mod providers;
mod push_providers;
mod push_secret;
mod push_secret_bulk;
mod refresh_calls;
mod refresh_policy;
mod rollout;
mod saas;
mod sources;
mod store_guards;
mod stores;
mod sync;
mod templates;
mod tenancy;
mod validation;
mod vault_auth;
mod webhook_provider;
