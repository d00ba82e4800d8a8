//! HTTP tests against the real binary, started on port 0.

mod audit;
mod audit_postgres;
mod audit_trail;
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
mod pg;
mod policy;
mod secrets;
mod shutdown;
mod sign_cli;
mod upload_policies;
mod uploads;
mod v4;
mod validation;
