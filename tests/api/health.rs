use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_200_json() {
    let app = TestApp::spawn();
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}
