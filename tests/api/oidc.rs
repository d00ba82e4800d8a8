//! End users' tokens from identity providers: keys discovered and fetched from a stand-in
//! provider run by the test (`stand_in_idp`), templated rules (`users/{sub}/**`), claim
//! conditions, key rotation, caching and outages. The token layouts of Auth0, Keycloak,
//! Firebase, Google and Cognito are in `idp_shapes`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, temp_file};
use crate::jwt::{Keys, now};
use crate::policy::spawn_without_open_mode;
use crate::stand_in_idp::Provider;

pub fn rs256(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

/// `keys`' JWKS with the RSA key under `kid`.
pub fn jwks_with_kid(keys: &Keys, kid: &str) -> String {
    keys.jwks().replace("\"rsa-1\"", &format!("\"{kid}\""))
}

/// Claims of an end user's token of `issuer`, valid for ten minutes.
pub fn user_claims(issuer: &str, audience: &Value, subject: &str) -> Value {
    json!({"iss": issuer, "aud": audience, "sub": subject, "iat": now(), "exp": now() + 600})
}

pub fn put(object: &str) -> Value {
    json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object}})
}

/// Status and error message of `body` sent with `token`.
pub async fn attempt(app: &TestApp, token: &str, body: &Value) -> (u16, String) {
    let response = app.post_secret_as(Some(token), body).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

struct Setup {
    app: TestApp,
    provider: Provider,
    keys: Keys,
    _clients: tempfile::NamedTempFile,
    audit: tempfile::TempDir,
}

/// The service trusting the stand-in provider's `app` tenant, whose end users (audience
/// `api`) act as client `webapp`: each may upload under `users/{sub}/`, and editors also under
/// `shared/`.
async fn setup(extra_issuer: &str, env: &[(&str, &str)]) -> Setup {
    setup_caching(extra_issuer, env, "public, max-age=3600").await
}

/// [`setup`] with the provider's `Cache-Control` for its JWKS.
async fn setup_caching(
    extra_issuer: &str,
    env: &[(&str, &str)],
    cache_control: &'static str,
) -> Setup {
    let keys = Keys::new();
    let provider = Provider::start(keys.jwks()).await;
    provider.cache_control(cache_control);
    let clients = temp_file(&format!(
        r#"
[[issuers]]
id = "app-idp"
issuer = "{issuer}"
audiences = ["api"]
{extra_issuer}

[[clients]]
id = "webapp"
end_users = {{ issuer = "app-idp" }}
[[clients.allow]]
methods = ["PUT", "GET"]
resources = ["/test-bucket/users/{{sub}}/**", "/test-bucket/tenants/{{claims.tenant_id}}/**"]
[[clients.allow]]
methods = ["PUT"]
resources = ["/test-bucket/shared/**"]
claims = {{ groups = ["editors", "admins"] }}
"#,
        issuer = provider.issuer("app"),
    ));
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.log").display().to_string();
    let mut vars = vec![
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("AUDIT_LOG_PATH", audit_path.as_str()),
    ];
    vars.extend_from_slice(env);
    let app = spawn_without_open_mode(&vars);
    Setup {
        app,
        provider,
        keys,
        _clients: clients,
        audit,
    }
}

impl Setup {
    fn token(&self, claims: &Value) -> String {
        self.keys.token(&rs256("rsa-1"), claims)
    }

    fn user(&self, subject: &str) -> Value {
        user_claims(&self.provider.issuer("app"), &json!("api"), subject)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_user_may_upload_into_their_own_folder_only() {
    let setup = setup("", &[]).await;
    let alice = setup.token(&setup.user("alice"));
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice/a.png"))
            .await
            .0,
        201
    );
    let (status, message) = attempt(&setup.app, &alice, &put("users/bob/a.png")).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("path /test-bucket/users/bob/a.png is not allowed"),
        "{message}"
    );
    // A look-alike prefix is another folder.
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice2/a.png"))
            .await
            .0,
        403
    );

    let audit = std::fs::read_to_string(setup.audit.path().join("audit.log")).unwrap();
    let records = audit_records(&audit);
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record["client_id"], "webapp");
        assert_eq!(record["end_user"], "alice");
        assert_eq!(record["end_user_issuer"], setup.provider.issuer("app"));
    }
    assert_eq!(records[0]["decision"], "issued");
    assert_eq!(records[1]["decision"], "denied");
    assert!(!audit.contains(&alice[..40]), "no token in the audit log");
    assert!(
        !setup.app.logs().contains(&alice[..40]),
        "no token in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_fills_a_template_as_one_literal_segment_or_the_rule_does_not_apply() {
    let setup = setup("", &[]).await;
    let with_tenant = |tenant: Value| {
        let mut claims = setup.user("alice");
        claims["tenant_id"] = tenant;
        setup.token(&claims)
    };
    let token = with_tenant(json!("acme"));
    assert_eq!(
        attempt(&setup.app, &token, &put("tenants/acme/x")).await.0,
        201
    );
    assert_eq!(
        attempt(&setup.app, &token, &put("tenants/other/x")).await.0,
        403
    );
    // A value that is not one segment never widens the grant.
    for (tenant, object) in [
        (json!("acme/../other"), "tenants/other/x"),
        (json!(".."), "tenants/x"),
        (json!("*"), "tenants/other/x"),
        (json!("**"), "tenants/other/x"),
        (json!("acme%2F.."), "tenants/other/x"),
        (json!("acme\u{0}"), "tenants/acme/x"),
        (json!(["acme"]), "tenants/acme/x"),
    ] {
        let token = with_tenant(tenant.clone());
        let (status, message) = attempt(&setup.app, &token, &put(object)).await;
        assert_eq!(status, 403, "{tenant} {object}: {message}");
    }
    // A literal star in the claim matches only a literal star.
    let star = with_tenant(json!("*"));
    assert_eq!(attempt(&setup.app, &star, &put("tenants/*/x")).await.0, 201);
    let (status, message) = attempt(
        &setup.app,
        &with_tenant(json!("a/b")),
        &put("tenants/a/b/x"),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        message.contains("{claims.tenant_id} cannot be used in a path"),
        "{message}"
    );
    let no_tenant = setup.token(&setup.user("alice"));
    let (status, message) = attempt(&setup.app, &no_tenant, &put("tenants/acme/x")).await;
    assert_eq!(status, 403);
    assert!(message.contains("the token does not have"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_conditions_select_rules() {
    let setup = setup("", &[]).await;
    let mut editor = setup.user("carol");
    editor["groups"] = json!(["staff", "editors"]);
    let mut reader = setup.user("dave");
    reader["groups"] = json!(["staff"]);
    assert_eq!(
        attempt(&setup.app, &setup.token(&editor), &put("shared/x"))
            .await
            .0,
        201
    );
    let (status, message) = attempt(&setup.app, &setup.token(&reader), &put("shared/x")).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        !message.contains("editors"),
        "the message does not reveal the rule: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_end_user_tokens_are_a_401_naming_the_problem() {
    let setup = setup("", &[]).await;
    let with = |field: &str, value: Value| {
        let mut claims = setup.user("alice");
        claims[field] = value;
        setup.token(&claims)
    };
    for (name, token, reason) in [
        ("wrong audience", with("aud", json!(["other"])), "audience"),
        (
            "unknown issuer",
            with("iss", json!("https://idp.evil.example")),
            "issuer is not accepted",
        ),
        (
            "lives a year",
            with("exp", json!(now() + 365 * 86_400)),
            "lives longer",
        ),
        (
            "no audience",
            {
                let mut claims = setup.user("alice");
                claims.as_object_mut().unwrap().remove("aud");
                setup.token(&claims)
            },
            "lacks a required claim",
        ),
    ] {
        let (status, message) = attempt(&setup.app, &token, &put("users/alice/x")).await;
        assert!(
            status == 401 && message.contains(reason),
            "{name}: {status} {message}"
        );
    }
}

/// Polls `check` until it holds, for at most `seconds`.
async fn eventually(seconds: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let setup = setup("", &[("JWKS_MIN_REFRESH_INTERVAL", "1")]).await;
    let alice = setup.token(&setup.user("alice"));
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice/x")).await.0,
        201
    );
    let before = setup.provider.fetches();
    // The provider rotates: the same key pair under a new kid, the old one gone.
    setup
        .provider
        .serve_keys(jwks_with_kid(&setup.keys, "rsa-2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = setup.keys.token(&rs256("rsa-2"), &setup.user("alice"));
    assert_eq!(
        attempt(&setup.app, &rotated, &put("users/alice/x")).await.0,
        201
    );
    assert!(setup.provider.fetches() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_ids_do_not_make_the_service_hammer_the_provider() {
    let setup = setup("", &[("JWKS_MIN_REFRESH_INTERVAL", "3600")]).await;
    let alice = setup.token(&setup.user("alice"));
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice/x")).await.0,
        201
    );
    let before = setup.provider.fetches();
    for n in 0..20 {
        let token = setup
            .keys
            .token(&rs256(&format!("made-up-{n}")), &setup.user("alice"));
        let (status, message) = attempt(&setup.app, &token, &put("users/alice/x")).await;
        assert!(
            status == 401 && message.contains("key id"),
            "{status} {message}"
        );
    }
    assert_eq!(
        setup.provider.fetches(),
        before,
        "rate limited: no fetch within the interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_headers_drive_refreshes_and_an_outage_keeps_the_last_keys_until_stale() {
    let setup = setup_caching(
        "jwks_max_stale = 3",
        &[("JWKS_MIN_REFRESH_INTERVAL", "1")],
        "max-age=1",
    )
    .await;
    let alice = setup.token(&setup.user("alice"));
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice/x")).await.0,
        201
    );
    let first = setup.provider.fetches();
    assert!(
        eventually(15, async || setup.provider.fetches() >= first + 2).await,
        "max-age=1 refreshes without any token"
    );
    // The provider goes down: the keys in hand still verify, until they are too old.
    setup.provider.fail_with(503);
    assert_eq!(
        attempt(&setup.app, &alice, &put("users/alice/x")).await.0,
        201
    );
    let mut last = (0, String::new());
    assert!(
        eventually(20, async || {
            last = attempt(&setup.app, &alice, &put("users/alice/x")).await;
            last.0 == 401
        })
        .await,
        "stale keys are refused at last"
    );
    assert!(last.1.contains("key set is out of date"), "{}", last.1);
    // Back up: the next refresh brings the keys back.
    setup.provider.fail_with(200);
    assert!(
        eventually(20, async || attempt(
            &setup.app,
            &alice,
            &put("users/alice/x")
        )
        .await
        .0 == 201)
        .await
    );
}
