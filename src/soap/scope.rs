//! The namespace bindings in scope while a document is read. They are slices of the
//! input's `xmlns` attributes, so resolving a name costs no allocation. Declarations are
//! checked as Namespaces in XML (section 3) requires: the `xml` and `xmlns` prefixes and
//! namespaces are reserved. Their number is capped, since every resolution scans them.

use quick_xml::name::PrefixDeclaration;

use crate::error::ErrorCode;

/// Namespace bindings in scope at once; a real envelope needs a dozen.
pub(super) const MAX_NAMESPACE_BINDINGS: usize = 256;
/// The namespaces bound by definition.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

#[derive(Debug, Default)]
pub(super) struct Scope<'a> {
    /// (prefix, namespace) in declaration order; the prefix is empty for `xmlns=`, the
    /// namespace is empty where a declaration undoes one (`xmlns=""`, `xmlns:p=""`).
    bindings: Vec<(&'a str, &'a str)>,
}

impl<'a> Scope<'a> {
    /// Where the bindings of an element about to be read will start.
    pub(super) fn mark(&self) -> usize {
        self.bindings.len()
    }

    /// Ends the scope of the declarations made since `mark`.
    pub(super) fn leave(&mut self, mark: usize) {
        self.bindings.truncate(mark);
    }

    /// Brings one declaration into scope; `namespace` is the attribute's raw value, as
    /// namespace names are compared literally.
    pub(super) fn declare(
        &mut self,
        declaration: PrefixDeclaration<'a>,
        namespace: &'a str,
    ) -> Result<(), (ErrorCode, String)> {
        let reserved = |message: String| Err((ErrorCode::MalformedRequest, message));
        let prefix = match declaration {
            PrefixDeclaration::Named("xml") if namespace == XML_NS => return Ok(()),
            PrefixDeclaration::Named("xml") => {
                return reserved(format!("the prefix `xml` cannot be bound to `{namespace}`"));
            }
            PrefixDeclaration::Named("xmlns") => {
                return reserved("the prefix `xmlns` cannot be declared".into());
            }
            PrefixDeclaration::Named(prefix) => prefix,
            PrefixDeclaration::Default => "",
        };
        if namespace == XML_NS || namespace == XMLNS_NS {
            return reserved(format!(
                "the namespace `{namespace}` cannot be bound to {}",
                if prefix.is_empty() {
                    "the default namespace".to_string()
                } else {
                    format!("the prefix `{prefix}`")
                }
            ));
        }
        if self.bindings.len() >= MAX_NAMESPACE_BINDINGS {
            return Err((
                ErrorCode::LimitExceeded,
                format!("more than {MAX_NAMESPACE_BINDINGS} namespace declarations in scope"),
            ));
        }
        self.bindings.push((prefix, namespace));
        Ok(())
    }

    /// The namespace `prefix` denotes here; `use_default` for element names (an
    /// unprefixed attribute is in no namespace). An undeclared prefix is the error.
    pub(super) fn resolve(
        &self,
        prefix: Option<&str>,
        use_default: bool,
    ) -> Result<&'a str, String> {
        match prefix {
            None if !use_default => Ok(""),
            None => Ok(self.bound("").unwrap_or("")),
            Some("xml") => Ok(XML_NS),
            Some("xmlns") => Ok(XMLNS_NS),
            Some(prefix) => self
                .bound(prefix)
                .filter(|namespace| !namespace.is_empty())
                .ok_or_else(|| prefix.to_string()),
        }
    }

    /// The innermost binding of `prefix`.
    fn bound(&self, prefix: &str) -> Option<&'a str> {
        self.bindings
            .iter()
            .rev()
            .find(|(bound, _)| *bound == prefix)
            .map(|(_, namespace)| *namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_and_the_cap() {
        let mut scope = Scope::default();
        let named = PrefixDeclaration::Named;
        assert!(scope.declare(named("xml"), XML_NS).is_ok());
        assert!(scope.declare(named("xml"), "urn:x").is_err());
        assert!(scope.declare(named("xmlns"), XMLNS_NS).is_err());
        assert!(scope.declare(named("p"), XML_NS).is_err());
        assert!(scope.declare(PrefixDeclaration::Default, XMLNS_NS).is_err());
        assert_eq!(scope.mark(), 0, "nothing refused was bound");
        for _ in 0..MAX_NAMESPACE_BINDINGS {
            scope.declare(named("p"), "urn:p").unwrap();
        }
        let (code, message) = scope.declare(named("q"), "urn:q").unwrap_err();
        assert_eq!(code, ErrorCode::LimitExceeded);
        assert_eq!(message, "more than 256 namespace declarations in scope");
    }

    #[test]
    fn the_innermost_binding_wins_until_its_scope_ends() {
        let mut scope = Scope::default();
        scope
            .declare(PrefixDeclaration::Default, "urn:outer")
            .unwrap();
        let mark = scope.mark();
        scope.declare(PrefixDeclaration::Default, "").unwrap();
        scope.declare(PrefixDeclaration::Named("p"), "").unwrap();
        assert_eq!(scope.resolve(None, true), Ok(""));
        assert_eq!(scope.resolve(Some("p"), true), Err("p".to_string()));
        scope.leave(mark);
        assert_eq!(scope.resolve(None, true), Ok("urn:outer"));
        assert_eq!(scope.resolve(None, false), Ok(""));
        assert_eq!(scope.resolve(Some("xml"), false), Ok(XML_NS));
    }
}
