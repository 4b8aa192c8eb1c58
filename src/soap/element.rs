//! The body subtree handed to typed decoders: a small tree of namespaced elements with
//! their attributes and text. Decoders look children up by namespace and local name, so
//! prefixes never matter, and treat `xsi:nil` like an absent element.

use super::SoapError;
use crate::error::ErrorCode;

pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI; empty when the element is in no namespace.
    pub namespace: String,
    pub name: String,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Element>,
    /// The element's own character data (text and CDATA, concatenated, unescaped).
    pub text: String,
    /// `xsi:type`, its QName resolved with the namespaces in scope where it stood:
    /// (namespace, local name). `i:type="b:int"` with `b` bound to XML Schema is
    /// `("http://www.w3.org/2001/XMLSchema", "int")`, whatever the prefixes.
    pub xsi_type: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Namespace URI; empty for unprefixed attributes.
    pub namespace: String,
    pub name: String,
    pub value: String,
}

impl Element {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.name == name
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, namespace: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(namespace, name))
    }

    /// Every child with this namespace and local name.
    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    pub fn attribute(&self, namespace: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.namespace == namespace && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// `xsi:nil="true"` (or `"1"`).
    pub fn is_nil(&self) -> bool {
        matches!(
            self.attribute(XSI_NS, "nil").map(str::trim),
            Some("true" | "1")
        )
    }

    /// The text of an optional child; absent and `xsi:nil` are both `None`.
    pub fn optional_text(&self, namespace: &str, name: &str) -> Option<&str> {
        self.child(namespace, name)
            .filter(|child| !child.is_nil())
            .map(|child| child.text.as_str())
    }

    /// The text of a required child, or `malformed_request` naming it.
    pub fn required_text(&self, namespace: &str, name: &str) -> Result<&str, SoapError> {
        self.optional_text(namespace, name).ok_or_else(|| {
            SoapError::new(
                ErrorCode::MalformedRequest,
                format!("`{}` lacks the required element `{name}`", self.name),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_prefixes_and_treat_nil_as_absent() {
        let nil = Attribute {
            namespace: XSI_NS.into(),
            name: "nil".into(),
            value: "true".into(),
        };
        let parent = Element {
            namespace: "urn:x".into(),
            name: "Op".into(),
            children: vec![
                Element {
                    namespace: "urn:x".into(),
                    name: "a".into(),
                    text: "1".into(),
                    ..Element::default()
                },
                Element {
                    namespace: "urn:x".into(),
                    name: "b".into(),
                    attributes: vec![nil],
                    ..Element::default()
                },
            ],
            ..Element::default()
        };
        assert_eq!(parent.optional_text("urn:x", "a"), Some("1"));
        assert_eq!(parent.optional_text("urn:x", "b"), None);
        assert_eq!(parent.optional_text("urn:x", "c"), None);
        assert_eq!(parent.optional_text("urn:other", "a"), None);
        let error = parent.required_text("urn:x", "b").unwrap_err();
        assert_eq!(error.message, "`Op` lacks the required element `b`");
    }
}
