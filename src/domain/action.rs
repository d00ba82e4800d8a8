use serde_json::Value;

use super::Violation;

/// What the holder of the URL may do with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Head,
    Put,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Get, Action::Head, Action::Put];

    /// Exact, upper-case names only, as ael.api accepted them.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == value)
            .ok_or_else(|| {
                Violation::new("inclusion", "must be one of GET, HEAD, PUT").with_params(
                    Value::Array(Self::ALL.iter().map(|a| a.as_str().into()).collect()),
                )
            })
    }

    /// Whether the URL writes object content (and so should pin a content type).
    pub fn is_upload(self) -> bool {
        matches!(self, Action::Put)
    }

    /// The HTTP method the URL is signed for.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "GET",
            Action::Head => "HEAD",
            Action::Put => "PUT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_methods() {
        assert_eq!(Action::parse("GET"), Ok(Action::Get));
        assert_eq!(Action::parse("HEAD"), Ok(Action::Head));
        assert_eq!(Action::parse("PUT"), Ok(Action::Put));
    }

    #[test]
    fn rejects_lower_case_and_other_methods() {
        for value in ["get", "DELETE", "POST", "", " GET"] {
            let violation = Action::parse(value).unwrap_err();
            assert_eq!(violation.rule, "inclusion", "{value:?}");
            assert_eq!(violation.params, serde_json::json!(["GET", "HEAD", "PUT"]));
        }
    }
}
