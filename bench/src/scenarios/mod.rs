//! One module per measurement; `crate::run` sequences them.
pub mod apiserver;
pub mod aws;
pub mod fake;
pub mod floor;
pub mod openbao;
pub mod prestarted;
pub mod refresh;
pub mod status_floor;
