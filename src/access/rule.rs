//! One rule of a client: the methods, paths, content types and claims it allows, the URL
//! options it permits, and the upload conditions it adds.

use super::claims::{ClaimCondition, TemplateProblem};
use super::{Access, ContentTypeAccess, Denial, ResourcePattern};
use crate::domain::{Action, ContentLengthRange, ContentType};

/// Headers besides `x-goog-meta-*` that a rule may let uploads sign (`upload_headers`).
pub const UPLOAD_HEADERS: [&str; 2] = ["cache-control", "content-disposition"];

/// One `[[clients.allow]]` entry.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub methods: Vec<Action>,
    pub resources: Vec<ResourcePattern>,
    /// Media types, or `type/*` for a whole type; `None`: any.
    pub content_types: Option<Vec<MediaRange>>,
    /// Uploads may not be larger; a request without a size limit gets this one signed in.
    pub max_size: Option<u64>,
    /// Uploads may only create objects: `x-goog-if-generation-match: 0` is signed in.
    pub require_no_overwrite: bool,
    /// The end user's token must meet every one (end-user clients only).
    pub claims: Vec<ClaimCondition>,
    /// Media types a download may force with `response_content_type` (`*/*`: any that is
    /// not scriptable); `None`: none.
    pub response_content_types: Option<Vec<MediaRange>>,
    /// Disposition types (`attachment`, `inline`) a download may ask for with
    /// `response_content_disposition`; `None`: none.
    pub response_dispositions: Option<Vec<String>>,
    /// Names an upload may set as `x-goog-meta-<name>` (`*`: any); `None`: none.
    pub metadata: Option<Vec<String>>,
    /// Of [`UPLOAD_HEADERS`], the ones an upload may sign.
    pub upload_headers: Vec<String>,
    /// Reads (`GET`, `HEAD`) whose identical grants share one URL within windows of this
    /// many seconds (see `issuing::reuse`); `None`: every URL is signed anew.
    pub reuse_window: Option<u32>,
}

impl Rule {
    /// The rule with every URL option permitted (open mode, the dev demo).
    #[must_use]
    pub fn with_every_option(self) -> Self {
        Self {
            response_content_types: Some(vec![MediaRange::AnyType]),
            response_dispositions: Some(vec!["attachment".into(), "inline".into()]),
            metadata: Some(vec!["*".into()]),
            upload_headers: UPLOAD_HEADERS.map(str::to_owned).to_vec(),
            ..self
        }
    }

    /// The upload conditions to sign if this rule allows `access`.
    pub(super) fn allows(
        &self,
        access: &Access<'_>,
    ) -> Result<(Option<ContentLengthRange>, Option<u64>), Denial> {
        let method = access.action.as_str();
        if !self.methods.contains(&access.action) {
            return Err(Denial::Method(method));
        }
        let claims_hold = self.claims.is_empty()
            || access
                .end_user
                .is_some_and(|user| self.claims.iter().all(|c| c.holds(&user.claims)));
        if !claims_hold {
            return Err(Denial::Claims { method });
        }
        self.check_path(access)?;
        self.check_content_type(access)?;
        self.check_options(access)?;
        if !access.action.is_upload() {
            return Ok((access.content_length_range, access.if_generation_match));
        }
        let range = match (self.max_size, access.content_length_range) {
            (Some(max), Some(range)) if range.max > max => return Err(Denial::Size { max }),
            (Some(max), None) => Some(ContentLengthRange { min: 0, max }),
            (_, requested) => requested,
        };
        let generation = match (self.require_no_overwrite, access.if_generation_match) {
            (true, _) if access.action == Action::Post => return Err(Denial::OverwriteForm),
            (true, None | Some(0)) => Some(0),
            (true, Some(_)) => return Err(Denial::Overwrite),
            (false, requested) => requested,
        };
        Ok((range, generation))
    }

    /// One pattern, its templates filled in for the end user, must match. A template that
    /// cannot be filled in is reported when no pattern matched and the path is one the pattern
    /// aims at (it starts with the pattern's literal beginning): then the claim is the reason.
    fn check_path(&self, access: &Access<'_>) -> Result<(), Denial> {
        let mut problem: Option<TemplateProblem> = None;
        for pattern in &self.resources {
            let resolved = match pattern.resolve(access.end_user) {
                Ok(resolved) => resolved,
                Err(failed) => {
                    if access.path.starts_with(pattern.literal_prefix()) {
                        problem.get_or_insert(failed);
                    }
                    continue;
                }
            };
            let matched = if access.path_is_prefix {
                resolved.covers_prefix(access.path)
            } else {
                resolved.matches(access.path)
            };
            if matched {
                return Ok(());
            }
        }
        Err(match problem {
            Some(problem) => Denial::Template(problem),
            None => Denial::Path {
                method: access.action.as_str(),
                path: access.path.to_owned(),
            },
        })
    }

    /// Uploads must pin a listed type; other methods may omit the header, but if they sign
    /// one, it must be listed too. A form's `content_type_prefix` only under a rule that
    /// lists no types: a `starts-with` condition admits whatever GCS is sent, and `image/`
    /// admits `image/svg+xml`.
    fn check_content_type(&self, access: &Access<'_>) -> Result<(), Denial> {
        let Some(allowed) = &self.content_types else {
            return Ok(());
        };
        let method = access.action.as_str();
        match access.content_type {
            None if access.action.is_upload() => Err(Denial::ContentTypeRequired { method }),
            None => Ok(()),
            Some(ContentTypeAccess::Prefix(_)) => Err(Denial::ContentTypePrefix),
            Some(ContentTypeAccess::Exact(requested)) => {
                if allowed.iter().any(|range| range.admits(requested)) {
                    Ok(())
                } else {
                    Err(Denial::ContentType {
                        method,
                        content_type: requested.as_str().to_owned(),
                    })
                }
            }
        }
    }

    /// Download overrides and upload headers: each needs the rule's permission.
    fn check_options(&self, access: &Access<'_>) -> Result<(), Denial> {
        let options = &access.options;
        let refuse = |option: String| Denial::Option {
            method: access.action.as_str(),
            option,
        };
        if let Some(content_type) = options.response_content_type {
            let listed = self
                .response_content_types
                .as_ref()
                .is_some_and(|allowed| allowed.iter().any(|range| range.admits(content_type)));
            if !listed {
                return Err(refuse(format!(
                    "response_content_type {:?}",
                    content_type.as_str()
                )));
            }
        }
        if let Some(disposition) = options.response_disposition {
            let kind = disposition_type(disposition);
            let listed = self
                .response_dispositions
                .as_ref()
                .is_some_and(|allowed| allowed.contains(&kind));
            if !listed {
                return Err(refuse(format!("response_content_disposition {kind:?}")));
            }
        }
        for name in options.metadata_names {
            let listed = self
                .metadata
                .as_ref()
                .is_some_and(|allowed| allowed.iter().any(|n| n == "*" || n == name));
            if !listed {
                return Err(refuse(format!("metadata {name:?}")));
            }
        }
        for header in options.headers {
            if !self.upload_headers.iter().any(|h| h == header) {
                return Err(refuse((*header).to_owned()));
            }
        }
        Ok(())
    }
}

/// One entry of a rule's `content_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRange {
    /// `image/png`, or `text/plain; charset=utf-8`: that type, with exactly those parameters.
    Exact(ContentType),
    /// `image/*`: any subtype of the type, without parameters, and never a scriptable one
    /// (`image/svg+xml` must be listed by name).
    AnySubtype(String),
    /// `*/*` among a rule's `response_content_types`: any type that is not scriptable.
    AnyType,
}

impl MediaRange {
    /// A `content_types` entry of the clients file.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let parsed = ContentType::parse(entry).map_err(|v| v.description)?;
        match (parsed.kind(), parsed.subtype()) {
            ("*", _) => Err(
                "*/* is not a media range here: leave content_types out to allow any type".into(),
            ),
            (_, "*") if parsed.parameters().is_empty() => {
                Ok(Self::AnySubtype(parsed.kind().to_owned()))
            }
            (_, "*") => Err("type/* takes no parameters".into()),
            (kind, subtype) if kind.contains('*') || subtype.contains('*') => {
                Err("* stands only for a whole subtype, as in image/*".into())
            }
            _ => Ok(Self::Exact(parsed)),
        }
    }

    /// A `response_content_types` entry: as [`parse`](Self::parse), and `*/*` for any type
    /// that is not scriptable.
    pub fn parse_response(entry: &str) -> Result<Self, String> {
        if entry.trim() == "*/*" {
            Ok(Self::AnyType)
        } else {
            Self::parse(entry)
        }
    }

    /// Whether `requested` is within this range. Types and parameter names compare without
    /// case, parameter values too (`charset=UTF-8` is `charset=utf-8`).
    pub fn admits(&self, requested: &ContentType) -> bool {
        match self {
            Self::Exact(listed) => {
                listed.essence() == requested.essence()
                    && same_parameters(listed.parameters(), requested.parameters())
            }
            Self::AnySubtype(kind) => {
                requested.kind() == kind
                    && requested.parameters().is_empty()
                    && !requested.is_scriptable()
            }
            Self::AnyType => !requested.is_scriptable(),
        }
    }
}

/// The same parameters, in any order.
fn same_parameters(listed: &[(String, String)], requested: &[(String, String)]) -> bool {
    let contains = |within: &[(String, String)], (name, value): &(String, String)| {
        within
            .iter()
            .any(|(n, v)| n == name && v.eq_ignore_ascii_case(value))
    };
    listed.len() == requested.len()
        && listed.iter().all(|p| contains(requested, p))
        && requested.iter().all(|p| contains(listed, p))
}

/// The disposition type of a `Content-Disposition` value, lower case: `attachment` of
/// `Attachment; filename="a.pdf"`.
pub fn disposition_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
