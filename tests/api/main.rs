//! HTTP tests against the real binary, started on port 0.

mod config;
mod differential;
mod health;
mod helpers;
mod logging;
mod secrets;
mod shutdown;
mod validation;
