//! HTTP tests against the real binary, started on port 0.

mod audit;
mod batch;
mod config;
mod dev_store;
mod differential;
mod fake_gcs;
mod health;
mod helpers;
mod iam;
mod jwt;
mod key_rotation;
mod logging;
mod metrics;
mod openapi;
mod overload;
mod policy;
mod s3_backend;
mod secrets;
mod servers;
mod shutdown;
mod sign_cli;
mod tls;
mod upload_policies;
mod uploads;
mod v4;
mod validation;
