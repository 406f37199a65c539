//! The AWS provider against a real moto server, through the real SDK.
//!
//! moto comes from the test environment (`tests/env/testenv up`, read through
//! `sesame_testsupport::env()`); without it every test here fails, naming what is missing.
//! Names are unique per test and per run: the tests run in parallel on one shared moto.
#![forbid(unsafe_code)]

mod proxy;
mod support;

mod auth;
mod faults;
mod parameter_store;
mod push;
mod secrets_manager;
