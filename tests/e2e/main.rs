//! End-to-end tests: the real `sesame` binary against the real kube-apiserver started by
//! `tests/env/testenv`. Each test owns its namespace(s) and a controller class, and runs its own
//! sesame process, so tests run in parallel without touching each other's objects.
mod harness;

mod cloud;
mod faults;
mod leader;
mod observability;
mod policies;
mod providers;
mod stores;
mod sync;
mod templates;
mod validation;
