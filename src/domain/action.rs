use serde_json::Value;

use super::Violation;

/// What the holder of a URL (or form) may do with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Head,
    Put,
    Delete,
    /// Starting a resumable upload: `POST` with `x-goog-resumable: start` signed.
    Resumable,
    /// A browser form upload through a POST policy (`/upload_policies` only).
    Post,
}

impl Action {
    /// What a secret (a signed URL) may be issued for.
    pub const URL_ACTIONS: [Action; 5] = [
        Action::Get,
        Action::Head,
        Action::Put,
        Action::Delete,
        Action::Resumable,
    ];
    /// ael.api's three, which open mode grants.
    pub const AEL_ACTIONS: [Action; 3] = [Action::Get, Action::Head, Action::Put];
    /// Everything a clients-file rule may list.
    pub const ALL: [Action; 6] = [
        Action::Get,
        Action::Head,
        Action::Put,
        Action::Delete,
        Action::Resumable,
        Action::Post,
    ];

    /// The `action` of a secret: exact, upper-case names only, as ael.api accepted them.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::parse_among(value, &Self::URL_ACTIONS)
    }

    /// A `methods` entry of the clients file (which may also grant `POST` form uploads).
    pub fn parse_method(value: &str) -> Result<Self, Violation> {
        Self::parse_among(value, &Self::ALL)
    }

    fn parse_among(value: &str, allowed: &[Action]) -> Result<Self, Violation> {
        allowed
            .iter()
            .copied()
            .find(|action| action.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
                Violation::new("inclusion", format!("must be one of {}", names.join(", ")))
                    .with_params(Value::Array(names.into_iter().map(Value::from).collect()))
            })
    }

    /// Whether it writes object content (so it may pin a content type, a size, no-overwrite).
    pub fn is_upload(self) -> bool {
        matches!(self, Action::Put | Action::Resumable | Action::Post)
    }

    /// The name in requests, the clients file and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "GET",
            Action::Head => "HEAD",
            Action::Put => "PUT",
            Action::Delete => "DELETE",
            Action::Resumable => "RESUMABLE",
            Action::Post => "POST",
        }
    }

    /// The HTTP method the URL is signed for.
    pub fn http_method(self) -> &'static str {
        match self {
            Action::Resumable | Action::Post => "POST",
            other => other.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_url_actions() {
        assert_eq!(Action::parse("GET"), Ok(Action::Get));
        assert_eq!(Action::parse("HEAD"), Ok(Action::Head));
        assert_eq!(Action::parse("PUT"), Ok(Action::Put));
        assert_eq!(Action::parse("DELETE"), Ok(Action::Delete));
        assert_eq!(Action::parse("RESUMABLE"), Ok(Action::Resumable));
    }

    #[test]
    fn post_is_only_a_clients_file_method() {
        assert!(Action::parse("POST").is_err());
        assert_eq!(Action::parse_method("POST"), Ok(Action::Post));
    }

    #[test]
    fn rejects_lower_case_and_other_methods() {
        for value in ["get", "PATCH", "OPTIONS", "", " GET"] {
            let violation = Action::parse(value).unwrap_err();
            assert_eq!(violation.rule, "inclusion", "{value:?}");
            assert_eq!(
                violation.params,
                serde_json::json!(["GET", "HEAD", "PUT", "DELETE", "RESUMABLE"])
            );
        }
    }

    #[test]
    fn resumable_uploads_and_forms_are_signed_as_post() {
        assert_eq!(Action::Resumable.http_method(), "POST");
        assert_eq!(Action::Post.http_method(), "POST");
        assert_eq!(Action::Delete.http_method(), "DELETE");
    }
}
