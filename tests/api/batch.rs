//! `POST /media_content_storage_secrets/batch`: each secret decided and audited on its own.

use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records};
use crate::policy::{FRONTEND_KEY, spawn_with_clients};

const BATCH_PATH: &str = "/media_content_storage_secrets/batch";

async fn post_batch(app: &TestApp, credential: Option<&str>, body: &Value) -> (u16, Value, String) {
    let mut request = app.client.post(app.url(BATCH_PATH)).json(body);
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, response.json().await.unwrap(), id)
}

#[tokio::test]
async fn one_refused_item_does_not_fail_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let (app, _clients) = spawn_with_clients(&[("AUDIT_LOG_PATH", audit.to_str().unwrap())]);
    let body = json!({"secrets": [
        {"action": "PUT", "bucket": "test-bucket", "resource_id": "uploads/a.pdf", "content_type": "application/pdf"},
        {"action": "PUT", "bucket": "test-bucket", "resource_id": "elsewhere/a.pdf", "content_type": "application/pdf"},
        {"action": "NOPE", "bucket": "test-bucket", "resource_id": "x"},
        "not an object",
        {"action": "GET", "bucket": "test-bucket", "resource_id": "uploads/7/preview.jpg", "version": "v4"}
    ]});
    let (status, response, request_id) = post_batch(&app, Some(FRONTEND_KEY), &body).await;
    assert_eq!(status, 200);
    assert_eq!(response["meta"]["type"], "list");
    let items = response["data"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 403, 422, 422, 201]);
    assert!(
        items[0]["data"]["secret_url"]
            .as_str()
            .unwrap()
            .contains("/uploads/a.pdf?")
    );
    assert_eq!(items[1]["error"]["type"], "forbidden");
    assert_eq!(
        items[2]["error"]["invalid"][0]["entry"],
        "$.secrets[2].action"
    );
    assert_eq!(items[3]["error"]["invalid"][0]["entry"], "$.secrets[3]");
    assert_eq!(items[4]["data"]["version"], "v4");
    assert!(items.iter().enumerate().all(|(i, item)| item["index"] == i));

    let records = audit_records(&std::fs::read_to_string(&audit).unwrap());
    let decisions: Vec<&str> = records
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["issued", "denied", "invalid", "invalid", "issued"]
    );
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record["request_id"], format!("{request_id}#{index}"));
        assert_eq!(record["client_id"], "frontend");
    }
}

#[tokio::test]
async fn the_batch_as_a_whole_needs_credentials_and_1_to_100_secrets() {
    let (app, _clients) = spawn_with_clients(&[]);
    let one = json!({"action": "GET", "bucket": "test-bucket", "resource_id": "x"});
    let (status, _, _) = post_batch(&app, Some("ssk_wrong"), &json!({"secrets": [one]})).await;
    assert_eq!(status, 401);
    for body in [
        json!({}),
        json!({"secrets": []}),
        json!({"secrets": one}),
        json!({"secrets": vec![one.clone(); 101]}),
    ] {
        let (status, error, _) = post_batch(&app, Some(FRONTEND_KEY), &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["error"]["invalid"][0]["entry"], "$.secrets");
    }
    let (status, response, _) = post_batch(
        &app,
        Some(FRONTEND_KEY),
        &json!({"secrets": vec![one; 100]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(response["data"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn batches_accept_long_names_beyond_the_single_request_limit() {
    let app = TestApp::spawn();
    let name = "n".repeat(1000);
    let secrets: Vec<Value> = (0..100)
        .map(|i| json!({"action": "GET", "bucket": "test-bucket", "resource_id": format!("{i}{name}")[..1000]}))
        .collect();
    let (status, response, _) = post_batch(&app, None, &json!({"secrets": secrets})).await;
    assert_eq!(status, 200, "a 100 KB batch is accepted");
    assert!(
        response["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == 201)
    );
    let huge = json!({"secrets": [{"action": "GET", "bucket": "test-bucket", "resource_id": "x", "pad": "p".repeat(600_000)}]});
    let (status, error, _) = post_batch(&app, None, &huge).await;
    assert_eq!(status, 413);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("524288")
    );
}
