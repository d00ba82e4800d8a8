use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_200_json() {
    let app = TestApp::spawn();
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_api_reference_is_served_in_production_and_the_demo_page_is_not() {
    let app = TestApp::spawn();
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    let demo = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(demo.status(), 404, "the upload demo needs the dev store");
}
