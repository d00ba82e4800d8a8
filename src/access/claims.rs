//! Claims of an end user's token as the rules use them: a path to a claim
//! (`tenant_id`, `realm_access.roles`, `"https://example.com/roles"`), conditions that select
//! rules (`groups` holds `editors`), and the one rule for putting a claim value into an object
//! path.
//!
//! **A claim value is one literal path segment.** It is inserted as text, never read as a
//! pattern, so `*` or `%2F` in it match only those characters. A value that could not be one
//! segment is refused, and the rule that needed it does not apply: an empty value, `.` or
//! `..`, one holding `/` or `\`, a control character, or more than 256 bytes. A claim that is
//! not a string (a number, an array) is refused too: no claim can widen a grant.

use std::fmt;

use serde_json::{Map, Value};

use super::EndUser;
use crate::domain::find_control_character;

/// Longest claim value inserted into a path.
pub const MAX_SEGMENT_BYTES: usize = 256;

/// Where a claim is: names from the top of the claims object inwards.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// `name`, `outer.inner`, or `"a name.with dots"` for names that hold dots (Auth0's
    /// namespaced claims are URLs). Bare names are `A-Z a-z 0-9 _ - : $`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut names = Vec::new();
        let mut rest = source;
        loop {
            let (name, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| format!("claim {source:?}: a quote is not closed"))?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                let name = &rest[..end];
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-:$".contains(&b))
                {
                    return Err(format!(
                        "claim {source:?}: quote names that are not A-Z a-z 0-9 _ - : $, as \"https://example.com/roles\""
                    ));
                }
                (name, &rest[end..])
            };
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(format!(
                    "claim {source:?}: a name is empty or has a control character"
                ));
            }
            names.push(name.to_owned());
            match after.strip_prefix('.') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(Self(names)),
                None => {
                    return Err(format!(
                        "claim {source:?}: expected '.' after a quoted name"
                    ));
                }
            }
        }
    }

    /// The claim's value, if the token has it.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, inner) = self.0.split_first()?;
        inner
            .iter()
            .try_fold(claims.get(first)?, |value, name| value.get(name))
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .0
            .iter()
            .map(|name| {
                if name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-:$".contains(&b))
                {
                    name.clone()
                } else {
                    format!("\"{name}\"")
                }
            })
            .collect();
        f.write_str(&shown.join("."))
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({self})")
    }
}

/// What a template inserts: the end user's subject, or a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRef {
    /// `{sub}`
    Subject,
    /// `{claims.<path>}`
    Claim(ClaimPath),
}

impl ClaimRef {
    /// The inside of `{...}`.
    pub fn parse(inner: &str) -> Result<Self, String> {
        match inner {
            "sub" => Ok(Self::Subject),
            _ => match inner.strip_prefix("claims.") {
                Some(path) => ClaimPath::parse(path).map(Self::Claim),
                None => Err(format!(
                    "{{{inner}}} is not a template: use {{sub}} or {{claims.<name>}}"
                )),
            },
        }
    }

    /// The name shown in denials: `sub`, `claims.tenant_id`.
    pub fn name(&self) -> String {
        match self {
            Self::Subject => "sub".into(),
            Self::Claim(path) => format!("claims.{path}"),
        }
    }

    /// The literal segment this template stands for for `user`.
    pub fn segment<'a>(&self, user: Option<&'a EndUser>) -> Result<&'a str, TemplateProblem> {
        let name = self.name();
        let user = user.ok_or_else(|| TemplateProblem::NoEndUser { name: name.clone() })?;
        let value = match self {
            Self::Subject => Some(user.subject.as_str()),
            Self::Claim(path) => match path.lookup(&user.claims) {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.as_str()),
                Some(_) => {
                    return Err(TemplateProblem::Unusable {
                        name,
                        why: "is not a string",
                    });
                }
            },
        };
        let value = value.ok_or_else(|| TemplateProblem::Missing { name: name.clone() })?;
        literal_segment(value).map_err(|why| TemplateProblem::Unusable { name, why })
    }
}

/// Why a template could not be filled in. Names the claim, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error("the path needs {{{name}}}, which only tokens of end users have")]
    NoEndUser { name: String },
    #[error("the path needs {{{name}}}, which the token does not have")]
    Missing { name: String },
    #[error("the token's {{{name}}} cannot be used in a path: it {why}")]
    Unusable { name: String, why: &'static str },
}

/// `value` if it can stand as one literal path segment.
pub fn literal_segment(value: &str) -> Result<&str, &'static str> {
    if value.is_empty() {
        return Err("is empty");
    }
    if value == "." || value == ".." {
        return Err("is a dot segment");
    }
    if value.contains(['/', '\\']) {
        return Err("holds a path separator");
    }
    if find_control_character(value).is_some() {
        return Err("holds a control character");
    }
    if value.len() > MAX_SEGMENT_BYTES {
        return Err("is longer than 256 bytes");
    }
    Ok(value)
}

/// A value a condition accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Text(String),
    Bool(bool),
}

impl Expected {
    fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Expected::Text(wanted), Value::String(text)) => wanted == text,
            (Expected::Bool(wanted), Value::Bool(flag)) => wanted == flag,
            _ => false,
        }
    }
}

/// `claim = value` or `claim = [values]` of a rule's `claims` table: the claim must hold one
/// of the values, or be an array that contains one. Types are compared strictly: `true` is
/// not `"true"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCondition {
    pub claim: ClaimPath,
    pub any_of: Vec<Expected>,
}

impl ClaimCondition {
    pub fn holds(&self, claims: &Map<String, Value>) -> bool {
        let Some(value) = self.claim.lookup(claims) else {
            return false;
        };
        let candidates: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        candidates
            .iter()
            .any(|value| self.any_of.iter().any(|wanted| wanted.matches(value)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(claims: Value) -> EndUser {
        let Value::Object(claims) = claims else {
            panic!("claims are an object")
        };
        EndUser {
            issuer_id: "idp".into(),
            issuer: "https://idp.example".into(),
            subject: "user-1".into(),
            claims,
        }
    }

    #[test]
    fn claim_paths_reach_into_objects_and_quote_dotted_names() {
        let claims = json!({"realm_access": {"roles": ["uploader"]},
                            "https://example.com/tenant": "t1", "cognito:groups": ["a"]});
        let claims = claims.as_object().unwrap();
        let path = |s: &str| ClaimPath::parse(s).unwrap();
        assert_eq!(
            path("realm_access.roles").lookup(claims),
            Some(&json!(["uploader"]))
        );
        assert_eq!(
            path("\"https://example.com/tenant\"").lookup(claims),
            Some(&json!("t1"))
        );
        assert_eq!(path("cognito:groups").lookup(claims), Some(&json!(["a"])));
        assert_eq!(path("realm_access.missing").lookup(claims), None);
        assert_eq!(
            path("\"https://example.com/tenant\"").to_string(),
            "\"https://example.com/tenant\""
        );
        for bad in ["", "a..b", "a.", "https://x", "\"open", "\"a\"b", "a b"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_name_sub_or_a_claim() {
        assert_eq!(ClaimRef::parse("sub"), Ok(ClaimRef::Subject));
        assert!(matches!(
            ClaimRef::parse("claims.tenant_id"),
            Ok(ClaimRef::Claim(_))
        ));
        assert!(ClaimRef::parse("email").is_err());
        assert!(ClaimRef::parse("claims.").is_err());
    }

    #[test]
    fn a_claim_value_is_one_literal_segment_or_refused() {
        let tenant = ClaimRef::parse("claims.tenant").unwrap();
        let segment = |value: Value| {
            tenant
                .segment(Some(&user(json!({"tenant": value}))))
                .map(str::to_owned)
        };
        assert_eq!(segment(json!("acme")), Ok("acme".into()));
        // Wildcards and escapes stay literal characters; the pattern never re-reads them.
        assert_eq!(segment(json!("*")), Ok("*".into()));
        assert_eq!(segment(json!("a%2Fb")), Ok("a%2Fb".into()));
        assert_eq!(segment(json!("auth0|64f1")), Ok("auth0|64f1".into()));
        for (bad, why) in [
            (json!("a/b"), "holds a path separator"),
            (json!("..\\x"), "holds a path separator"),
            (json!(".."), "is a dot segment"),
            (json!("."), "is a dot segment"),
            (json!(""), "is empty"),
            (json!("a\nb"), "holds a control character"),
            (json!("a\u{85}b"), "holds a control character"),
            (json!("x".repeat(257)), "is longer than 256 bytes"),
            (json!(42), "is not a string"),
            (json!(["a"]), "is not a string"),
        ] {
            assert_eq!(
                segment(bad.clone()),
                Err(TemplateProblem::Unusable {
                    name: "claims.tenant".into(),
                    why
                }),
                "{bad}"
            );
        }
        assert_eq!(
            tenant.segment(Some(&user(json!({})))),
            Err(TemplateProblem::Missing {
                name: "claims.tenant".into()
            })
        );
        assert!(matches!(
            tenant.segment(None),
            Err(TemplateProblem::NoEndUser { .. })
        ));
    }

    #[test]
    fn conditions_match_values_or_array_members_with_strict_types() {
        let condition = |claim: &str, any_of: Vec<Expected>| ClaimCondition {
            claim: ClaimPath::parse(claim).unwrap(),
            any_of,
        };
        let claims = json!({"groups": ["editors", "staff"], "email_verified": true,
                            "cognito_style": "true", "realm_access": {"roles": ["uploader"]}});
        let claims = claims.as_object().unwrap();
        let text = |s: &str| Expected::Text(s.into());
        assert!(condition("groups", vec![text("staff")]).holds(claims));
        assert!(condition("groups", vec![text("admins"), text("editors")]).holds(claims));
        assert!(!condition("groups", vec![text("admins")]).holds(claims));
        assert!(condition("email_verified", vec![Expected::Bool(true)]).holds(claims));
        assert!(!condition("cognito_style", vec![Expected::Bool(true)]).holds(claims));
        assert!(condition("realm_access.roles", vec![text("uploader")]).holds(claims));
        assert!(!condition("missing", vec![text("x")]).holds(claims));
    }
}
