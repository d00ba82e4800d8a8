//! The access rules, decided without a clients file or HTTP.
use super::*;

fn rule(methods: &[Action], resources: &[&str], content_types: Option<&[&str]>) -> Rule {
    Rule {
        methods: methods.to_vec(),
        resources: resources
            .iter()
            .map(|p| ResourcePattern::parse(p).unwrap())
            .collect(),
        content_types: content_types
            .map(|c| c.iter().map(|s| MediaRange::parse(s).unwrap()).collect()),
        ..Rule::default()
    }
}

fn frontend() -> Client {
    Client {
        id: "frontend".into(),
        api_key_sha256: None,
        jwt_subject: None,
        jwt_issuer: None,
        end_users: None,
        rate_limit: None,
        max_ttl: 900,
        allow: vec![
            rule(
                &[Action::Put],
                &["/media/uploads/**"],
                Some(&["image/jpeg", "application/pdf"]),
            ),
            rule(
                &[Action::Get, Action::Head],
                &["/media/uploads/*/preview.jpg"],
                None,
            ),
        ],
    }
}

/// A parsed content type that lives as long as the test.
fn media(value: &str) -> &'static ContentType {
    Box::leak(Box::new(ContentType::parse(value).unwrap()))
}

fn access(action: Action, path: &str, content_type: Option<&str>) -> Result<usize, Denial> {
    frontend()
        .authorize(&Access {
            content_type: content_type.map(|value| ContentTypeAccess::Exact(media(value))),
            ..Access::object(action, path)
        })
        .map(|grant| grant.rule)
}

#[test]
fn allows_what_a_rule_lists() {
    assert_eq!(
        access(
            Action::Put,
            "/media/uploads/1/a.pdf",
            Some("application/pdf")
        ),
        Ok(0)
    );
    assert_eq!(
        access(Action::Get, "/media/uploads/1/preview.jpg", None),
        Ok(1)
    );
    assert_eq!(
        access(Action::Head, "/media/uploads/1/preview.jpg", None),
        Ok(1)
    );
}

#[test]
fn names_the_method_when_no_rule_has_it() {
    let frontend = Client {
        allow: vec![rule(&[Action::Get], &["/**"], None)],
        ..frontend()
    };
    let result = frontend.authorize(&Access::object(Action::Put, "/media/x"));
    assert_eq!(result, Err(Denial::Method("PUT")));
}

#[test]
fn names_the_path_when_the_method_is_allowed_elsewhere() {
    assert_eq!(
        access(Action::Get, "/media/uploads/1/original.jpg", None),
        Err(Denial::Path {
            method: "GET",
            path: "/media/uploads/1/original.jpg".into()
        })
    );
    assert!(matches!(
        access(Action::Put, "/media/uploads-evil/x", Some("image/jpeg")),
        Err(Denial::Path { .. })
    ));
}

#[test]
fn upload_must_pin_a_listed_content_type() {
    assert_eq!(
        access(Action::Put, "/media/uploads/x", None),
        Err(Denial::ContentTypeRequired { method: "PUT" })
    );
    assert_eq!(
        access(Action::Put, "/media/uploads/x", Some("text/html")),
        Err(Denial::ContentType {
            method: "PUT",
            content_type: "text/html".into()
        })
    );
    assert_eq!(
        access(Action::Put, "/media/uploads/x", Some("Image/JPEG")),
        Ok(0),
        "media types compare without case"
    );
    assert!(
        access(Action::Put, "/media/uploads/x", Some("image/jpeg; q=1")).is_err(),
        "parameters only where the rule lists them"
    );
}

#[test]
fn lifetime_is_never_silently_shortened() {
    let client = frontend(); // max_ttl 900
    assert_eq!(client.lifetime(Some(900), 600), Ok(900));
    assert_eq!(
        client.lifetime(Some(901), 600),
        Err(LifetimeTooLong { max_ttl: 900 })
    );
    assert_eq!(client.lifetime(None, 600), Ok(600));
    assert_eq!(
        client.lifetime(None, 3600),
        Ok(900),
        "the default is capped"
    );
}

#[test]
fn a_client_without_rules_is_denied_everything() {
    let nobody = Client {
        allow: Vec::new(),
        ..frontend()
    };
    for action in Action::ALL {
        assert!(
            nobody
                .authorize(&Access::object(action, "/media/x"))
                .is_err()
        );
    }
}

fn uploader(max_size: Option<u64>, require_no_overwrite: bool) -> Client {
    Client {
        allow: vec![Rule {
            max_size,
            require_no_overwrite,
            ..rule(
                &[Action::Put, Action::Resumable, Action::Post],
                &["/media/in/**"],
                Some(&["image/*"]),
            )
        }],
        ..frontend()
    }
}

fn upload(
    content_length_range: Option<ContentLengthRange>,
    if_generation_match: Option<u64>,
) -> Access<'static> {
    Access {
        content_type: Some(ContentTypeAccess::Exact(media("image/png"))),
        content_length_range,
        if_generation_match,
        ..Access::object(Action::Put, "/media/in/x.png")
    }
}

#[test]
fn max_size_is_signed_in_when_missing_and_enforced_when_given() {
    let client = uploader(Some(100), false);
    let grant = client.authorize(&upload(None, None)).unwrap();
    assert_eq!(
        grant.content_length_range,
        Some(ContentLengthRange { min: 0, max: 100 })
    );
    let small = ContentLengthRange { min: 1, max: 50 };
    assert_eq!(
        client
            .authorize(&upload(Some(small), None))
            .unwrap()
            .content_length_range,
        Some(small)
    );
    let big = ContentLengthRange { min: 0, max: 101 };
    assert_eq!(
        client.authorize(&upload(Some(big), None)),
        Err(Denial::Size { max: 100 })
    );
}

#[test]
fn no_overwrite_is_signed_in_and_other_generations_refused() {
    let client = uploader(None, true);
    assert_eq!(
        client
            .authorize(&upload(None, None))
            .unwrap()
            .if_generation_match,
        Some(0)
    );
    assert_eq!(
        client
            .authorize(&upload(None, Some(0)))
            .unwrap()
            .if_generation_match,
        Some(0)
    );
    assert_eq!(
        client.authorize(&upload(None, Some(7))),
        Err(Denial::Overwrite)
    );
    let form = Access {
        action: Action::Post,
        ..upload(None, None)
    };
    assert_eq!(client.authorize(&form), Err(Denial::OverwriteForm));
}

#[test]
fn wildcard_content_types_allow_subtypes_but_no_prefix() {
    let client = uploader(None, false);
    assert!(client.authorize(&upload(None, None)).is_ok());
    let with_type = |value: &str| Access {
        content_type: Some(ContentTypeAccess::Exact(media(value))),
        ..upload(None, None)
    };
    assert!(client.authorize(&with_type("IMAGE/JPEG")).is_ok());
    for refused in ["text/plain", "image/png; a=b"] {
        assert!(
            matches!(
                client.authorize(&with_type(refused)),
                Err(Denial::ContentType { .. })
            ),
            "{refused}"
        );
    }
    let prefix = Access {
        action: Action::Post,
        content_type: Some(ContentTypeAccess::Prefix("image/")),
        ..upload(None, None)
    };
    assert_eq!(client.authorize(&prefix), Err(Denial::ContentTypePrefix));
}

/// `image/*` must not admit a type a browser runs script from: it has to be listed.
#[test]
fn wildcards_never_admit_scriptable_types() {
    let client = uploader(None, false);
    for scriptable in ["image/svg+xml", "text/html", "application/xhtml+xml"] {
        let wildcard = Client {
            allow: vec![rule(
                &[Action::Put],
                &["/media/in/**"],
                Some(&["image/*", "text/*", "application/*"]),
            )],
            ..client.clone()
        };
        let access = Access {
            content_type: Some(ContentTypeAccess::Exact(media(scriptable))),
            ..upload(None, None)
        };
        assert!(
            wildcard.authorize(&access).is_err(),
            "{scriptable} passed a wildcard"
        );
        let listed = Client {
            allow: vec![rule(&[Action::Put], &["/media/in/**"], Some(&[scriptable]))],
            ..client.clone()
        };
        assert!(
            listed.authorize(&access).is_ok(),
            "{scriptable} listed by name"
        );
    }
}

#[test]
fn parameters_pass_only_where_the_rule_lists_them() {
    let client = Client {
        allow: vec![rule(
            &[Action::Put],
            &["/media/in/**"],
            Some(&["text/plain; charset=utf-8"]),
        )],
        ..frontend()
    };
    let put = |value: &str| Access {
        content_type: Some(ContentTypeAccess::Exact(media(value))),
        ..Access::object(Action::Put, "/media/in/a.txt")
    };
    assert!(client.authorize(&put("Text/Plain; Charset=UTF-8")).is_ok());
    assert!(client.authorize(&put("text/plain")).is_err());
    assert!(client.authorize(&put("text/plain; charset=utf-7")).is_err());
    assert!(
        client
            .authorize(&put("text/plain; charset=utf-8; x=y"))
            .is_err()
    );
}

#[test]
fn media_ranges_are_checked_when_the_file_loads() {
    assert!(MediaRange::parse("image/*").is_ok());
    for bad in [
        "*/*",
        "image/*; a=b",
        "image/p*",
        "image/png,text/html",
        "image",
    ] {
        assert!(MediaRange::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn key_prefixes_need_a_trailing_double_star_rule() {
    let client = uploader(None, false);
    let form = |path: &'static str| Access {
        action: Action::Post,
        path,
        path_is_prefix: true,
        ..upload(None, None)
    };
    assert!(client.authorize(&form("/media/in/42/")).is_ok());
    assert!(matches!(
        client.authorize(&form("/media/")),
        Err(Denial::Path { .. })
    ));
}
