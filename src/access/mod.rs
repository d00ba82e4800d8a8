//! The access rules: who may get which URL. Pure: the clients come from `clients_file`, the
//! caller from `auth`.
//!
//! Deny by default: a request is allowed only when one `allow` rule of the caller matches its
//! method, its object path and, where the rule lists content types, its content type.

pub mod clients_file;
mod pattern;
mod rule;

pub use pattern::ResourcePattern;
pub use rule::{Rule, media_type};

use crate::domain::{Action, ContentLengthRange};

/// The client id that callers without credentials act as, when the configuration has one.
pub const ANONYMOUS: &str = "anonymous";

/// A caller of the service and what it may do.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// SHA-256 of the client's API key; the key itself is never stored.
    pub api_key_sha256: Option<[u8; 32]>,
    /// The JWT `sub` that authenticates as this client.
    pub jwt_subject: Option<String>,
    /// Longest lifetime, in seconds, of a URL issued to this client.
    pub max_ttl: u32,
    pub allow: Vec<Rule>,
}

/// The content type a request pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentTypeAccess<'a> {
    Exact(&'a str),
    /// A form upload whose `Content-Type` must start with this (`image/`).
    Prefix(&'a str),
}

/// What a caller asks for, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub action: Action,
    /// `/bucket/object`, decoded; with `path_is_prefix`, `/bucket/` and a key prefix.
    pub path: &'a str,
    pub path_is_prefix: bool,
    pub content_type: Option<ContentTypeAccess<'a>>,
    pub content_length_range: Option<ContentLengthRange>,
    pub if_generation_match: Option<u64>,
}

impl<'a> Access<'a> {
    /// A request for one object with no upload conditions.
    pub fn object(action: Action, path: &'a str) -> Self {
        Self {
            action,
            path,
            path_is_prefix: false,
            content_type: None,
            content_length_range: None,
            if_generation_match: None,
        }
    }
}

/// What the policy allows, with the upload conditions it adds to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Index of the rule that allowed it.
    pub rule: usize,
    pub content_length_range: Option<ContentLengthRange>,
    pub if_generation_match: Option<u64>,
}

/// Why a request was refused. The message names the condition that failed for this caller,
/// without revealing other rules or clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("method {0} is not allowed for this client")]
    Method(&'static str),
    #[error("path {path} is not allowed for {method} for this client")]
    Path { method: &'static str, path: String },
    #[error("a content_type is required for {method} on this path")]
    ContentTypeRequired { method: &'static str },
    #[error("content type {content_type:?} is not allowed for {method} on this path")]
    ContentType {
        method: &'static str,
        content_type: String,
    },
    #[error("uploads to this path may be at most {max} bytes")]
    Size { max: u64 },
    #[error("uploads to this path may not overwrite: if_generation_match must be 0")]
    Overwrite,
    #[error("uploads to this path must not overwrite, which form uploads cannot guarantee")]
    OverwriteForm,
    /// The rule holds uploads to a condition the bucket's store cannot sign into its URLs.
    #[error("uploads to this path must {condition}, which {backend} URLs cannot guarantee")]
    Unenforceable {
        backend: &'static str,
        condition: String,
    },
}

impl Denial {
    /// How far a request got before this condition failed; the furthest one is reported.
    fn depth(&self) -> u8 {
        match self {
            Denial::Method(_) => 0,
            Denial::Path { .. } => 1,
            Denial::ContentTypeRequired { .. } | Denial::ContentType { .. } => 2,
            Denial::Size { .. }
            | Denial::Overwrite
            | Denial::OverwriteForm
            | Denial::Unenforceable { .. } => 3,
        }
    }
}

/// An `expires_in` above the client's `max_ttl`: refused, never silently shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at most {max_ttl} seconds for this client")]
pub struct LifetimeTooLong {
    pub max_ttl: u32,
}

impl Client {
    /// The lifetime of a URL for this client: the requested one if it is within `max_ttl`;
    /// without a request, `default_ttl` (`SECRETS_TTL`) capped at `max_ttl`.
    pub fn lifetime(
        &self,
        requested: Option<u32>,
        default_ttl: u32,
    ) -> Result<u32, LifetimeTooLong> {
        match requested {
            Some(seconds) if seconds > self.max_ttl => Err(LifetimeTooLong {
                max_ttl: self.max_ttl,
            }),
            Some(seconds) => Ok(seconds),
            None => Ok(default_ttl.min(self.max_ttl)),
        }
    }

    /// The first rule that allows `access`, or the condition that failed. When no rule
    /// allows it, the reported condition is the one that got furthest: method, path, content
    /// type, then size and overwrite.
    pub fn authorize(&self, access: &Access<'_>) -> Result<Grant, Denial> {
        let mut denial = Denial::Method(access.action.as_str());
        for (index, rule) in self.allow.iter().enumerate() {
            match rule.allows(access) {
                Ok((content_length_range, if_generation_match)) => {
                    return Ok(Grant {
                        rule: index,
                        content_length_range,
                        if_generation_match,
                    });
                }
                Err(failed) if failed.depth() > denial.depth() => denial = failed,
                Err(_) => {}
            }
        }
        Err(denial)
    }
}

/// The rules of ael.api's open mode: any known bucket, any object, any method, up to 7 days.
pub fn open_mode_client(max_ttl: u32) -> Client {
    Client {
        id: ANONYMOUS.to_owned(),
        api_key_sha256: None,
        jwt_subject: None,
        max_ttl,
        allow: vec![Rule {
            methods: Action::AEL_ACTIONS.to_vec(),
            resources: vec![ResourcePattern::parse("/**").expect("valid pattern")],
            content_types: None,
            max_size: None,
            require_no_overwrite: false,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(methods: &[Action], resources: &[&str], content_types: Option<&[&str]>) -> Rule {
        Rule {
            methods: methods.to_vec(),
            resources: resources
                .iter()
                .map(|p| ResourcePattern::parse(p).unwrap())
                .collect(),
            content_types: content_types.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
            max_size: None,
            require_no_overwrite: false,
        }
    }

    fn frontend() -> Client {
        Client {
            id: "frontend".into(),
            api_key_sha256: None,
            jwt_subject: None,
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

    fn access(action: Action, path: &str, content_type: Option<&str>) -> Result<usize, Denial> {
        frontend()
            .authorize(&Access {
                content_type: content_type.map(ContentTypeAccess::Exact),
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
            access(Action::Put, "/media/uploads/x", Some("Image/JPEG; q=1")),
            Ok(0),
            "media types compare without case and parameters"
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
            content_type: Some(ContentTypeAccess::Exact("image/png")),
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
    fn wildcard_content_types_allow_subtypes_and_prefixes() {
        let client = uploader(None, false);
        assert!(client.authorize(&upload(None, None)).is_ok());
        let prefix = Access {
            action: Action::Post,
            content_type: Some(ContentTypeAccess::Prefix("image/")),
            ..upload(None, None)
        };
        assert!(client.authorize(&prefix).is_ok());
        let wider = Access {
            content_type: Some(ContentTypeAccess::Prefix("im")),
            ..prefix
        };
        assert!(matches!(
            client.authorize(&wider),
            Err(Denial::ContentType { .. })
        ));
        let text = Access {
            content_type: Some(ContentTypeAccess::Exact("text/plain")),
            ..upload(None, None)
        };
        assert!(matches!(
            client.authorize(&text),
            Err(Denial::ContentType { .. })
        ));
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
}
