//! Resource patterns of the clients file: `*` matches a run of characters without `/`, `**` a
//! run that may include `/`, and `{sub}` or `{claims.<name>}` the end user's subject or a claim
//! of their token, as one literal segment (see `claims`). Everything else matches itself.
//! Patterns apply to the decoded object path `/bucket/object`.

use std::borrow::Cow;
use std::fmt;

use super::EndUser;
use super::claims::{ClaimRef, TemplateProblem};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// `*`
    Segment,
    /// `**`
    Any,
    /// `{sub}`, `{claims.<name>}`: filled in for each request.
    Claim(ClaimRef),
}

/// A parsed `resources` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct ResourcePattern {
    source: String,
    tokens: Vec<Token>,
}

impl ResourcePattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        if !source.starts_with('/') {
            return Err(format!(
                "{source:?} must start with '/' (it matches \"/bucket/object\")"
            ));
        }
        if source.chars().any(char::is_control) {
            return Err(format!("{source:?} contains a control character"));
        }
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '}' {
                return Err(format!("{source:?}: '}}' without '{{'"));
            }
            if c != '*' && c != '{' {
                literal.push(c);
                continue;
            }
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            if c == '{' {
                let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let template =
                    ClaimRef::parse(&inner).map_err(|problem| format!("{source:?}: {problem}"))?;
                if !source.contains(&format!("{{{inner}}}")) {
                    return Err(format!("{source:?}: '{{' without '}}'"));
                }
                tokens.push(Token::Claim(template));
                continue;
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                if chars.peek() == Some(&'*') {
                    return Err(format!(
                        "{source:?}: use '*' or '**', not three or more stars"
                    ));
                }
                tokens.push(Token::Any);
            } else {
                tokens.push(Token::Segment);
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            tokens,
        })
    }

    /// The literal text the pattern starts with (`/b/users/` of `/b/users/{sub}/**`).
    pub fn literal_prefix(&self) -> &str {
        match self.tokens.first() {
            Some(Token::Literal(text)) => text,
            _ => "",
        }
    }

    /// Whether it has `{...}` templates (only clients of end users may use them).
    pub fn has_templates(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Claim(_)))
    }

    /// The pattern for `user`: each template replaced by the literal segment it stands for.
    pub fn resolve(&self, user: Option<&EndUser>) -> Result<Cow<'_, Self>, TemplateProblem> {
        if !self.has_templates() {
            return Ok(Cow::Borrowed(self));
        }
        let mut tokens: Vec<Token> = Vec::with_capacity(self.tokens.len());
        for token in &self.tokens {
            let literal = match token {
                Token::Claim(template) => template.segment(user)?,
                Token::Literal(text) => text.as_str(),
                wildcard => {
                    tokens.push(wildcard.clone());
                    continue;
                }
            };
            match tokens.last_mut() {
                Some(Token::Literal(previous)) => previous.push_str(literal),
                _ => tokens.push(Token::Literal(literal.to_owned())),
            }
        }
        Ok(Cow::Owned(Self {
            source: self.source.clone(),
            tokens,
        }))
    }

    /// Whether the whole of `path` matches the whole pattern (templates match nothing: resolve
    /// them first).
    pub fn matches(&self, path: &str) -> bool {
        // reachable[i] = the tokens seen so far can match exactly the first i bytes of `path`.
        // Byte positions are always char boundaries: literals are whole strings and wildcards
        // advance over whole chars.
        let path_len = path.len();
        let mut reachable = vec![false; path_len + 1];
        reachable[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; path_len + 1];
            for start in (0..=path_len).filter(|&i| reachable[i]) {
                match token {
                    Token::Literal(literal) => {
                        if path[start..].starts_with(literal.as_str()) {
                            next[start + literal.len()] = true;
                        }
                    }
                    Token::Claim(_) => {}
                    Token::Segment | Token::Any => {
                        next[start] = true;
                        for (offset, c) in path[start..].char_indices() {
                            if c == '/' && *token == Token::Segment {
                                break;
                            }
                            next[start + offset + c.len_utf8()] = true;
                        }
                    }
                }
            }
            reachable = next;
        }
        reachable[path_len]
    }

    /// Whether every path that starts with `prefix` matches. Only patterns of the form
    /// `literal**` can promise that (a `*` elsewhere could stop at a `/` the uploader adds), and
    /// they do when `prefix` starts with their literal part.
    pub fn covers_prefix(&self, prefix: &str) -> bool {
        match self.tokens.as_slice() {
            [Token::Any] => true,
            [Token::Literal(literal), Token::Any] => prefix.starts_with(literal.as_str()),
            _ => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourcePattern({:?})", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        ResourcePattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn double_star_crosses_slashes() {
        assert!(matches("/b/uploads/**", "/b/uploads/a"));
        assert!(matches("/b/uploads/**", "/b/uploads/a/b/c.pdf"));
        assert!(matches("/**", "/any/thing"));
    }

    #[test]
    fn single_star_stays_within_a_segment() {
        assert!(matches(
            "/b/uploads/*/preview.jpg",
            "/b/uploads/42/preview.jpg"
        ));
        assert!(!matches(
            "/b/uploads/*/preview.jpg",
            "/b/uploads/4/2/preview.jpg"
        ));
        assert!(!matches("/b/uploads/*", "/b/uploads/a/b"));
        assert!(matches("/b/*.pdf", "/b/scan.pdf"));
        assert!(!matches("/b/*.pdf", "/b/scan.pdf.exe"));
    }

    #[test]
    fn prefix_look_alikes_do_not_match() {
        assert!(!matches("/b/uploads/**", "/b/uploads-evil/x"));
        assert!(!matches("/b/uploads/**", "/b/uploadsx"));
        assert!(!matches("/b/uploads/**", "/bx/uploads/x"));
        assert!(!matches("/b/uploads/*", "/b/uploads"));
    }

    #[test]
    fn percent_encoded_slash_is_a_literal_character() {
        // The object "uploads/a%2Fb" is one segment named "a%2Fb"; it is not "uploads/a/b".
        assert!(matches("/b/uploads/*", "/b/uploads/a%2Fb"));
        assert!(!matches("/b/uploads/a/*", "/b/uploads/a%2Fb"));
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(matches("/b/x.txt", "/b/x.txt"));
        assert!(!matches("/b/x.txt", "/b/x.txt2"));
        assert!(!matches("/b/x.txt", "/b/X.txt"));
    }

    #[test]
    fn unicode_is_matched_by_characters() {
        assert!(matches("/b/*/файл.pdf", "/b/日本/файл.pdf"));
        assert!(matches("/b/caf*", "/b/café"));
    }

    #[test]
    fn only_trailing_double_star_patterns_cover_a_prefix() {
        let covers = |pattern: &str, prefix: &str| {
            ResourcePattern::parse(pattern)
                .unwrap()
                .covers_prefix(prefix)
        };
        assert!(covers("/b/uploads/**", "/b/uploads/42/"));
        assert!(covers("/b/uploads/**", "/b/uploads/"));
        assert!(covers("/**", "/b/x"));
        assert!(!covers("/b/uploads/**", "/b/upload"));
        assert!(!covers("/b/uploads/**", "/b/uploads-evil/"));
        assert!(!covers("/b/uploads/*", "/b/uploads/"));
        assert!(!covers("/b/*/x/**", "/b/a/x/"));
        assert!(!covers("/b/uploads/x.pdf", "/b/uploads/x.pdf"));
    }

    fn user(subject: &str, claims: serde_json::Value) -> EndUser {
        let serde_json::Value::Object(claims) = claims else {
            panic!("claims are an object")
        };
        EndUser {
            issuer_id: "idp".into(),
            issuer: "https://idp.example".into(),
            subject: subject.into(),
            claims,
        }
    }

    fn matches_for(pattern: &str, user: &EndUser, path: &str) -> bool {
        ResourcePattern::parse(pattern)
            .unwrap()
            .resolve(Some(user))
            .is_ok_and(|resolved| resolved.matches(path))
    }

    #[test]
    fn templates_match_the_users_own_segment_only() {
        let alice = user("alice", serde_json::json!({"tenant_id": "acme"}));
        assert!(matches_for(
            "/b/users/{sub}/**",
            &alice,
            "/b/users/alice/a.png"
        ));
        assert!(!matches_for(
            "/b/users/{sub}/**",
            &alice,
            "/b/users/bob/a.png"
        ));
        assert!(!matches_for(
            "/b/users/{sub}/**",
            &alice,
            "/b/users/alice2/a.png"
        ));
        assert!(matches_for(
            "/b/t/{claims.tenant_id}/u-{sub}/*",
            &alice,
            "/b/t/acme/u-alice/x"
        ));
        assert!(!matches_for(
            "/b/t/{claims.tenant_id}/**",
            &alice,
            "/b/t/other/x"
        ));
    }

    #[test]
    fn claim_values_cannot_widen_a_template() {
        let path = "/b/users/{sub}/**";
        // A wildcard in the subject matches only itself.
        let star = user("*", serde_json::json!({}));
        assert!(matches_for(path, &star, "/b/users/*/x"));
        assert!(!matches_for(path, &star, "/b/users/bob/x"));
        let double = user("**", serde_json::json!({}));
        assert!(!matches_for(path, &double, "/b/users/bob/x"));
        // An escaped slash is three characters of one segment.
        let escaped = user("bob%2F..", serde_json::json!({}));
        assert!(matches_for(path, &escaped, "/b/users/bob%2F../x"));
        assert!(!matches_for(path, &escaped, "/b/users/bob/x"));
        // Separators, dot segments and control characters are refused: nothing matches.
        for subject in ["bob/..", "..", "a\\b", "a\u{0}b", "a\rb", ""] {
            let user = user(subject, serde_json::json!({}));
            let pattern = ResourcePattern::parse(path).unwrap();
            assert!(pattern.resolve(Some(&user)).is_err(), "{subject:?}");
        }
    }

    #[test]
    fn a_resolved_template_covers_the_users_prefix() {
        let alice = user("alice", serde_json::json!({}));
        let pattern = ResourcePattern::parse("/b/users/{sub}/**").unwrap();
        let resolved = pattern.resolve(Some(&alice)).unwrap();
        assert!(resolved.covers_prefix("/b/users/alice/"));
        assert!(!resolved.covers_prefix("/b/users/"));
        assert!(
            !pattern.covers_prefix("/b/users/alice/"),
            "unresolved covers nothing"
        );
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for pattern in [
            "b/x",
            "",
            "/b/***",
            "/b/\n",
            "/b/{email}",
            "/b/{sub",
            "/b/}",
            "/b/{claims.}",
        ] {
            assert!(ResourcePattern::parse(pattern).is_err(), "{pattern:?}");
        }
    }
}
