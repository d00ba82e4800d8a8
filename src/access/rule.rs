//! One rule of a client: the methods, paths, content types and claims it allows, the URL
//! options it permits, and the upload conditions it adds.

use super::claims::{ClaimCondition, TemplateProblem};
use super::{Access, ContentTypeAccess, Denial, ResourcePattern};
use crate::domain::{Action, ContentLengthRange};

/// Headers besides `x-goog-meta-*` that a rule may let uploads sign (`upload_headers`).
pub const UPLOAD_HEADERS: [&str; 2] = ["cache-control", "content-disposition"];

/// One `[[clients.allow]]` entry.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub methods: Vec<Action>,
    pub resources: Vec<ResourcePattern>,
    /// Media types (lower case, without parameters, `type/*` for a whole type); `None`: any.
    pub content_types: Option<Vec<String>>,
    /// Uploads may not be larger; a request without a size limit gets this one signed in.
    pub max_size: Option<u64>,
    /// Uploads may only create objects: `x-goog-if-generation-match: 0` is signed in.
    pub require_no_overwrite: bool,
    /// The end user's token must meet every one (end-user clients only).
    pub claims: Vec<ClaimCondition>,
    /// Media types a download may force with `response_content_type`; `None`: none.
    pub response_content_types: Option<Vec<String>>,
    /// Disposition types (`attachment`, `inline`) a download may ask for with
    /// `response_content_disposition`; `None`: none.
    pub response_dispositions: Option<Vec<String>>,
    /// Names an upload may set as `x-goog-meta-<name>` (`*`: any); `None`: none.
    pub metadata: Option<Vec<String>>,
    /// Of [`UPLOAD_HEADERS`], the ones an upload may sign.
    pub upload_headers: Vec<String>,
}

impl Rule {
    /// The rule with every URL option permitted (open mode, the dev demo).
    #[must_use]
    pub fn with_every_option(self) -> Self {
        Self {
            response_content_types: Some(vec!["*/*".into()]),
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
    /// one, it must be listed too. `type/*` entries allow every subtype, and form uploads with
    /// a prefix only under such an entry.
    fn check_content_type(&self, access: &Access<'_>) -> Result<(), Denial> {
        let Some(allowed) = &self.content_types else {
            return Ok(());
        };
        let method = access.action.as_str();
        let (requested, is_prefix) = match access.content_type {
            None if access.action.is_upload() => {
                return Err(Denial::ContentTypeRequired { method });
            }
            None => return Ok(()),
            Some(ContentTypeAccess::Exact(value)) => (value, false),
            Some(ContentTypeAccess::Prefix(value)) => (value, true),
        };
        if media_type_listed(allowed, requested, is_prefix) {
            Ok(())
        } else {
            Err(Denial::ContentType {
                method,
                content_type: requested.to_owned(),
            })
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
                .is_some_and(|allowed| media_type_listed(allowed, content_type, false));
            if !listed {
                return Err(refuse(format!("response_content_type {content_type:?}")));
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

fn media_type_listed(allowed: &[String], requested: &str, is_prefix: bool) -> bool {
    let media = media_type(requested);
    allowed.iter().any(|entry| match entry.strip_suffix('*') {
        Some("*/") => true,
        Some(type_prefix) => media.starts_with(type_prefix),
        None => !is_prefix && *entry == media,
    })
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

/// The disposition type of a `Content-Disposition` value, lower case: `attachment` of
/// `Attachment; filename="a.pdf"`.
pub fn disposition_type(value: &str) -> String {
    media_type(value)
}
