//! End users' tokens from identity providers: keys discovered and fetched from a stand-in
//! provider run by the test, templated rules (`users/{sub}/**`), claim conditions, the token
//! shapes of Auth0, Keycloak, Firebase, Google and Cognito, key rotation, caching and outages.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, temp_file};
use crate::jwt::{Keys, now};
use crate::policy::spawn_without_open_mode;

/// A stand-in identity provider: `/{tenant}/.well-known/openid-configuration` names the
/// issuer `{base}/{tenant}` (with a trailing slash for `auth0`, as Auth0's issuers have) and
/// `{base}/jwks`, which serves whatever key sets the test puts there.
struct Provider {
    base: String,
    state: Arc<ProviderState>,
}

struct ProviderState {
    base: Mutex<String>,
    jwks: Mutex<String>,
    status: AtomicU16,
    cache_control: Mutex<&'static str>,
    fetches: AtomicUsize,
}

impl Provider {
    async fn start(keys: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProviderState {
            base: Mutex::new(base.clone()),
            jwks: Mutex::new(keys),
            status: AtomicU16::new(200),
            cache_control: Mutex::new("public, max-age=3600"),
            fetches: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/{tenant}/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(serve_jwks))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, state }
    }

    fn issuer(&self, tenant: &str) -> String {
        issuer_of(&self.base, tenant)
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    fn serve_keys(&self, jwks: String) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    fn fail_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    fn cache_control(&self, value: &'static str) {
        *self.state.cache_control.lock().unwrap() = value;
    }
}

fn issuer_of(base: &str, tenant: &str) -> String {
    if tenant == "auth0" {
        format!("{base}/{tenant}/")
    } else {
        format!("{base}/{tenant}")
    }
}

async fn discovery(
    State(state): State<Arc<ProviderState>>,
    Path(tenant): Path<String>,
) -> Response {
    let base = state.base.lock().unwrap().clone();
    axum::Json(json!({"issuer": issuer_of(&base, &tenant), "jwks_uri": format!("{base}/jwks")}))
        .into_response()
}

async fn serve_jwks(State(state): State<Arc<ProviderState>>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    if status != StatusCode::OK {
        return status.into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(*state.cache_control.lock().unwrap()),
    );
    (headers, state.jwks.lock().unwrap().clone()).into_response()
}

fn rs256(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

/// `keys`' JWKS with the RSA key under `kid`.
fn jwks_with_kid(keys: &Keys, kid: &str) -> String {
    keys.jwks().replace("\"rsa-1\"", &format!("\"{kid}\""))
}

/// Claims of an end user's token of `issuer`, valid for ten minutes.
fn user_claims(issuer: &str, audience: &Value, subject: &str) -> Value {
    json!({"iss": issuer, "aud": audience, "sub": subject, "iat": now(), "exp": now() + 600})
}

fn put(object: &str) -> Value {
    json!({"secret": {"action": "PUT", "bucket": "test-bucket", "resource_id": object}})
}

/// Status and error message of `body` sent with `token`.
async fn attempt(app: &TestApp, token: &str, body: &Value) -> (u16, String) {
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

/// An identity provider's token layout: the issuer entry, the client's `end_users`, a rule
/// using its claims, and a token for an object that rule allows.
struct Shape {
    name: &'static str,
    issuer_extra: &'static str,
    end_users_extra: &'static str,
    rule: &'static str,
    claims: fn(&str) -> Value,
    object: &'static str,
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            // Auth0 access token: `aud` is an array (API and userinfo), `azp` is the SPA's
            // client id, permissions from RBAC, a namespaced custom claim, `|` in `sub`.
            name: "auth0",
            issuer_extra: r#"audiences = ["https://api.example.com"]"#,
            end_users_extra: r#", authorized_parties = ["spa-client-id"]"#,
            rule: r#"resources = ['/test-bucket/tenants/{claims."https://example.com/tenant"}/{sub}/**']
claims = { permissions = "upload:files" }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "auth0|64f1c0ffee",
                "aud": ["https://api.example.com", format!("{iss}userinfo")], "azp": "spa-client-id",
                "scope": "openid profile", "permissions": ["read:files", "upload:files"],
                "https://example.com/tenant": "acme"})
            },
            object: "tenants/acme/auth0|64f1c0ffee/a.png",
        },
        Shape {
            // Keycloak: `aud` "account", `azp` the client, roles in `realm_access.roles`.
            name: "keycloak",
            issuer_extra: r#"audiences = ["account"]"#,
            end_users_extra: r#", authorized_parties = ["web-frontend"]"#,
            rule: r#"resources = ["/test-bucket/users/{sub}/**"]
claims = { "realm_access.roles" = "uploader", email_verified = true }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "f3b1a2c4-1d2e-4f5a-9b8c-7d6e5f4a3b2c",
                "aud": "account", "azp": "web-frontend", "typ": "Bearer",
                "realm_access": {"roles": ["offline_access", "uploader"]},
                "resource_access": {"account": {"roles": ["view-profile"]}},
                "email_verified": true, "preferred_username": "alice"})
            },
            object: "users/f3b1a2c4-1d2e-4f5a-9b8c-7d6e5f4a3b2c/a.png",
        },
        Shape {
            // Firebase Auth ID token: `aud` the project id, `firebase.sign_in_provider`.
            name: "firebase-project",
            issuer_extra: r#"audiences = ["firebase-project"]"#,
            end_users_extra: "",
            rule: r#"resources = ["/test-bucket/users/{sub}/**"]
claims = { email_verified = true, "firebase.sign_in_provider" = ["password", "google.com"] }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "kX9vUq2rT7bYwZ0aC1dE3fG4hI5j",
                "aud": "firebase-project", "user_id": "kX9vUq2rT7bYwZ0aC1dE3fG4hI5j",
                "auth_time": now() - 60, "email": "alice@example.com", "email_verified": true,
                "firebase": {"identities": {"email": ["alice@example.com"]}, "sign_in_provider": "password"}})
            },
            object: "users/kX9vUq2rT7bYwZ0aC1dE3fG4hI5j/a.png",
        },
        Shape {
            // Google Identity ID token: `aud` and `azp` the OAuth client id, `hd` the domain.
            name: "google",
            issuer_extra: r#"audiences = ["1234.apps.googleusercontent.com"]"#,
            end_users_extra: r#", authorized_parties = ["1234.apps.googleusercontent.com"]"#,
            rule: r#"resources = ["/test-bucket/domains/{claims.hd}/{sub}/**"]
claims = { email_verified = true }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "110169484474386276334",
                "aud": "1234.apps.googleusercontent.com", "azp": "1234.apps.googleusercontent.com",
                "email": "alice@example.com", "email_verified": true, "hd": "example.com"})
            },
            object: "domains/example.com/110169484474386276334/a.png",
        },
        Shape {
            // Cognito ID token: `aud` the app client id, groups in `cognito:groups`.
            name: "cognito-id",
            issuer_extra: r#"audiences = ["7abc1defg2hij3klm4nop5qrs"]"#,
            end_users_extra: "",
            rule: r#"resources = ["/test-bucket/users/{sub}/**"]
claims = { "cognito:groups" = "uploaders", token_use = "id" }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "8d7a4f2e-5c1b-4e3a-9f6d-2b1c0a9e8d7f",
                "aud": "7abc1defg2hij3klm4nop5qrs", "token_use": "id",
                "cognito:groups": ["uploaders"], "cognito:username": "alice", "email_verified": true})
            },
            object: "users/8d7a4f2e-5c1b-4e3a-9f6d-2b1c0a9e8d7f/a.png",
        },
        Shape {
            // Cognito access token: no `aud` at all; the app client id is `client_id`.
            name: "cognito-access",
            issuer_extra: r#"audiences = ["7abc1defg2hij3klm4nop5qrs"]
audience_claim = "client_id""#,
            end_users_extra: "",
            rule: r#"resources = ["/test-bucket/users/{sub}/**"]
claims = { token_use = "access", "cognito:groups" = "uploaders" }"#,
            claims: |iss| {
                json!({"iss": iss, "sub": "8d7a4f2e-5c1b-4e3a-9f6d-2b1c0a9e8d7f",
                "client_id": "7abc1defg2hij3klm4nop5qrs", "token_use": "access",
                "scope": "aws.cognito.signin.user.admin", "cognito:groups": ["uploaders"],
                "username": "alice"})
            },
            object: "users/8d7a4f2e-5c1b-4e3a-9f6d-2b1c0a9e8d7f/a.png",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_common_identity_providers_work_with_their_claim_layouts() {
    let keys = Keys::new();
    let provider = Provider::start(keys.jwks()).await;
    let mut file = String::new();
    for shape in shapes() {
        let _ = write!(
            file,
            "[[issuers]]\nid = \"{name}\"\nissuer = \"{issuer}\"\n{extra}\n\n",
            name = shape.name,
            issuer = provider.issuer(shape.name),
            extra = shape.issuer_extra
        );
    }
    for shape in shapes() {
        let _ = write!(
            file,
            "[[clients]]\nid = \"{name}-app\"\nend_users = {{ issuer = \"{name}\"{extra} }}\n[[clients.allow]]\nmethods = [\"PUT\"]\n{rule}\n\n",
            name = shape.name,
            extra = shape.end_users_extra,
            rule = shape.rule
        );
    }
    let clients = temp_file(&file);
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    let mut failures = Vec::new();
    for shape in shapes() {
        let mut claims = (shape.claims)(&provider.issuer(shape.name));
        claims["iat"] = json!(now());
        claims["exp"] = json!(now() + 600);
        let token = keys.token(&rs256("rsa-1"), &claims);
        let (status, message) = attempt(&app, &token, &put(shape.object)).await;
        if status != 201 {
            failures.push(format!("{}: {status} {message}", shape.name));
        }
        // Someone else's folder stays closed.
        let elsewhere = "users/someone-else/a.png";
        if attempt(&app, &token, &put(elsewhere)).await.0 != 403 {
            failures.push(format!("{}: {elsewhere} was not refused", shape.name));
        }
        // Without the claim the rule requires, no rule applies.
        if let Some(object) = claims.as_object_mut() {
            for claim in [
                "permissions",
                "realm_access",
                "firebase",
                "email_verified",
                "cognito:groups",
            ] {
                object.remove(claim);
            }
        }
        let stripped = keys.token(&rs256("rsa-1"), &claims);
        if attempt(&app, &stripped, &put(shape.object)).await.0 != 403 {
            failures.push(format!(
                "{}: allowed without its required claims",
                shape.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorized_party_other_than_the_configured_one_is_not_the_client() {
    let keys = Keys::new();
    let provider = Provider::start(keys.jwks()).await;
    let shape = &shapes()[0];
    let clients = temp_file(&format!(
        "[[issuers]]\nid = \"auth0\"\nissuer = \"{}\"\n{}\n[[clients]]\nid = \"spa\"\nend_users = {{ issuer = \"auth0\"{} }}\n[[clients.allow]]\nmethods = [\"PUT\"]\n{}\n",
        provider.issuer("auth0"),
        shape.issuer_extra,
        shape.end_users_extra,
        shape.rule
    ));
    let app = spawn_without_open_mode(&[("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap())]);
    let mut claims = (shape.claims)(&provider.issuer("auth0"));
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 600);
    claims["azp"] = json!("mobile-app");
    let (status, message) = attempt(
        &app,
        &keys.token(&rs256("rsa-1"), &claims),
        &put(shape.object),
    )
    .await;
    assert_eq!(status, 401);
    assert!(message.contains("subject is not a client"), "{message}");
}
