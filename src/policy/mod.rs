//! Who may get which URL. Pure: the clients come from `clients_file`, the caller from `auth`.
//!
//! Deny by default: a request is allowed only when one `allow` rule of the caller matches its
//! method, its object path and, where the rule lists content types, its content type.

pub mod clients_file;
mod pattern;

pub use pattern::ResourcePattern;

use crate::domain::Action;

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

/// One `[[clients.allow]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub methods: Vec<Action>,
    pub resources: Vec<ResourcePattern>,
    /// Media types (lower case, without parameters); `None` means any.
    pub content_types: Option<Vec<String>>,
}

/// What a caller asks for, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub action: Action,
    /// `/bucket/object`, decoded.
    pub path: &'a str,
    pub content_type: Option<&'a str>,
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

    /// The index of the first rule that allows `access`, or the condition that failed. When
    /// no rule allows it, the reported condition is the one that got furthest: method, then
    /// path, then content type.
    pub fn authorize(&self, access: &Access<'_>) -> Result<usize, Denial> {
        let method = access.action.as_str();
        let mut denial = Denial::Method(method);
        for (index, rule) in self.allow.iter().enumerate() {
            if !rule.methods.contains(&access.action) {
                continue;
            }
            if !rule.resources.iter().any(|p| p.matches(access.path)) {
                if matches!(denial, Denial::Method(_)) {
                    denial = Denial::Path {
                        method,
                        path: access.path.to_owned(),
                    };
                }
                continue;
            }
            match rule.check_content_type(access) {
                Ok(()) => return Ok(index),
                Err(content_denial) => denial = content_denial,
            }
        }
        Err(denial)
    }
}

impl Rule {
    /// Uploads must pin one of the listed types; other methods may omit the header, but if they
    /// sign one, it must be listed too.
    fn check_content_type(&self, access: &Access<'_>) -> Result<(), Denial> {
        let Some(allowed) = &self.content_types else {
            return Ok(());
        };
        let method = access.action.as_str();
        match access.content_type {
            None if access.action.is_upload() => Err(Denial::ContentTypeRequired { method }),
            None => Ok(()),
            Some(content_type) if allowed.contains(&media_type(content_type)) => Ok(()),
            Some(content_type) => Err(Denial::ContentType {
                method,
                content_type: content_type.to_owned(),
            }),
        }
    }
}

/// `type/subtype` in lower case, without parameters: `Text/Plain; charset=utf-8` is
/// `text/plain`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The rules of ael.api's open mode: any known bucket, any object, any method, up to 7 days.
pub fn open_mode_client(max_ttl: u32) -> Client {
    Client {
        id: ANONYMOUS.to_owned(),
        api_key_sha256: None,
        jwt_subject: None,
        max_ttl,
        allow: vec![Rule {
            methods: Action::ALL.to_vec(),
            resources: vec![ResourcePattern::parse("/**").expect("valid pattern")],
            content_types: None,
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
        frontend().authorize(&Access {
            action,
            path,
            content_type,
        })
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
        let result = frontend.authorize(&Access {
            action: Action::Put,
            path: "/media/x",
            content_type: None,
        });
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
                    .authorize(&Access {
                        action,
                        path: "/media/x",
                        content_type: None
                    })
                    .is_err()
            );
        }
    }
}
