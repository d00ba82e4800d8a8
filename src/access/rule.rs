//! One rule of a client: the methods, paths and content types it allows, and the upload
//! conditions it adds.

use super::{Access, ContentTypeAccess, Denial, ResourcePattern};
use crate::domain::{Action, ContentLengthRange};

/// One `[[clients.allow]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    pub methods: Vec<Action>,
    pub resources: Vec<ResourcePattern>,
    /// Media types (lower case, without parameters, `type/*` for a whole type); `None`: any.
    pub content_types: Option<Vec<String>>,
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
        let media = media_type(requested);
        let listed = allowed.iter().any(|entry| match entry.strip_suffix('*') {
            Some(type_prefix) => media.starts_with(type_prefix),
            None => !is_prefix && *entry == media,
        });
        if listed {
            Ok(())
        } else {
            Err(Denial::ContentType {
                method,
                content_type: requested.to_owned(),
            })
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
