//! The steps around every signing decision: admitting the caller (its rate limit and a
//! signing slot), then writing the decision's audit record and answering. Fail closed: when
//! the record cannot be written, nothing is issued (503).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::SemaphorePermit;

use super::request_log::DecisionLogFields;
use crate::access::ANONYMOUS;
use crate::app::App;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::issuing::{Caller, Outcome};

/// Lets an authenticated caller in for `urls` URLs: within its client's `rate_limit`, and
/// with a signing slot, which it holds until the answer. A caller that failed to
/// authenticate takes no slot: its refusal is held to the refusal limit instead.
pub fn admit<'a>(
    app: &'a App,
    caller: &Caller,
    source: IpAddr,
    urls: usize,
) -> Result<Option<SemaphorePermit<'a>>, ApiError> {
    let Ok(caller) = caller else {
        return Ok(None);
    };
    app.check_rate(&caller.client, end_user(caller, source), urls, source)
        .and_then(|()| app.signing_slot())
        .map(Some)
}

/// Whom a client's `rate_limit` counts apart: each end user of a token by issuer and
/// subject, the callers of the `anonymous` client by source address; other clients as one.
fn end_user(caller: &Authenticated, source: IpAddr) -> Option<String> {
    if let Some(user) = &caller.end_user {
        return Some(format!("{}|{}", user.issuer, user.subject));
    }
    (caller.client.id == ANONYMOUS).then(|| source.to_string())
}

/// Writes `outcome`'s audit record, then answers with `respond` (or the refusal's error). A
/// refusal past the refusal limit of its source or client gets a 429 and is counted in the
/// next summary record instead. The request log gets the decision's fields either way.
pub async fn after_audit<T>(
    app: &Arc<App>,
    source: IpAddr,
    outcome: Outcome<T>,
    respond: impl FnOnce(T) -> Response,
) -> Response {
    let log_fields = DecisionLogFields::from(&outcome.record);
    let mut response = match recorded(app, source, outcome).await {
        Ok(value) => respond(value),
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(log_fields);
    response
}

/// The result of `outcome` once its record is written (or the refusal was counted instead).
pub async fn recorded<T>(
    app: &Arc<App>,
    source: IpAddr,
    Outcome { record, result }: Outcome<T>,
) -> Result<T, ApiError> {
    app.admit_refusal(&record, source)?;
    app.record(record).await?;
    result
}

/// The results of a batch's `outcomes` once their records are written, in one write: every
/// admitted item's record is durable, or none of those items is issued. Refusals past the
/// refusal limit get a 429 and no record, as single requests do.
pub async fn recorded_batch<T>(
    app: &App,
    source: IpAddr,
    outcomes: Vec<Outcome<T>>,
) -> Vec<Result<T, ApiError>> {
    let mut records = Vec::with_capacity(outcomes.len());
    let mut results = Vec::with_capacity(outcomes.len());
    for Outcome { record, result } in outcomes {
        match app.admit_refusal(&record, source) {
            Ok(()) => {
                records.push(record);
                results.push((true, result));
            }
            Err(limited) => results.push((false, Err(limited))),
        }
    }
    let written = app.record_batch(records).await;
    results
        .into_iter()
        .map(|(recorded, result)| match (&written, recorded) {
            (Err(_), true) => Err(ApiError::AuditUnavailable),
            _ => result,
        })
        .collect()
}

/// A signed URL with its headers, as JSON: most answers fit, so the body is written into one
/// buffer instead of growing from axum's 128 bytes.
const TYPICAL_ANSWER_BYTES: usize = 1024;

/// `body` as JSON. Issued URLs are bearer credentials: no cache may keep a response that
/// holds them.
pub fn no_store(status: StatusCode, body: &impl Serialize) -> Response {
    let mut bytes = Vec::with_capacity(TYPICAL_ANSWER_BYTES);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => no_store_bytes(status, bytes),
        Err(error) => ApiError::Internal(error.into()).into_response(),
    }
}

/// An answer already written as JSON (`secret_json`), with [`no_store`]'s headers.
pub fn no_store_json(status: StatusCode, json: String) -> Response {
    no_store_bytes(status, json.into_bytes())
}

fn no_store_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        bytes,
    )
        .into_response()
}
