//! Tokens with the claim layouts of common identity providers (stand-in tokens of each
//! shape), each through its own `[[issuers]]` entry, `end_users` client and rule.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::helpers::temp_file;
use crate::jwt::{Keys, now};
use crate::oidc::{attempt, put, rs256};
use crate::policy::spawn_without_open_mode;
use crate::stand_in_idp::Provider;

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
