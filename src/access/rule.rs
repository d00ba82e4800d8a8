//! One rule of a client: the methods, paths and content types it allows, and the upload
//! conditions it adds.

use super::{Access, ContentTypeAccess, Denial, ResourcePattern};
use crate::domain::{Action, ContentLengthRange, ContentType};

/// One `[[clients.allow]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub methods: Vec<Action>,
    pub resources: Vec<ResourcePattern>,
    /// Media types, or `type/*` for a whole type; `None`: any.
    pub content_types: Option<Vec<MediaRange>>,
    /// Uploads may not be larger; a request without a size limit gets this one signed in.
    pub max_size: Option<u64>,
    /// Uploads may only create objects: `x-goog-if-generation-match: 0` is signed in.
    pub require_no_overwrite: bool,
}

impl Rule {
    /// The upload conditions to sign if this rule allows `access`.
    pub(super) fn allows(
        &self,
        access: &Access<'_>,
    ) -> Result<(Option<ContentLengthRange>, Option<u64>), Denial> {
        let method = access.action.as_str();
        if !self.methods.contains(&access.action) {
            return Err(Denial::Method(method));
        }
        let path_allowed = if access.path_is_prefix {
            self.resources.iter().any(|p| p.covers_prefix(access.path))
        } else {
            self.resources.iter().any(|p| p.matches(access.path))
        };
        if !path_allowed {
            return Err(Denial::Path {
                method,
                path: access.path.to_owned(),
            });
        }
        self.check_content_type(access)?;
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
}

/// One entry of a rule's `content_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRange {
    /// `image/png`, or `text/plain; charset=utf-8`: that type, with exactly those parameters.
    Exact(ContentType),
    /// `image/*`: any subtype of the type, without parameters, and never a scriptable one
    /// (`image/svg+xml` must be listed by name).
    AnySubtype(String),
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
