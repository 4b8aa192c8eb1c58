//! The body subtree handed to typed decoders: a small tree of namespaced elements with
//! their attributes and text. Decoders look children up by namespace and local name, so
//! prefixes never matter, and treat `xsi:nil` like an absent element.
//!
//! The tree borrows from the decoded request text: names and namespace URIs are slices of
//! it, and text and attribute values are too unless unescaping or concatenation had to
//! build a new string. A request is parsed once and decoded right away, so nothing needs
//! to outlive the text, and the reader allocates little more than the children lists.

use std::borrow::Cow;

use super::SoapError;
use crate::error::ErrorCode;

pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element<'a> {
    /// Namespace URI; empty when the element is in no namespace.
    pub namespace: &'a str,
    /// Local name (the prefix is resolved into `namespace`).
    pub name: &'a str,
    /// Boxed slices rather than `Vec`s: an element is moved twice while the tree is
    /// built, and never grows once read.
    pub attributes: Box<[Attribute<'a>]>,
    pub children: Box<[Element<'a>]>,
    /// The element's own character data (text and CDATA, concatenated, unescaped).
    /// Whitespace-only text beside child elements is indentation and is not kept.
    pub text: Cow<'a, str>,
    /// `xsi:type`, its QName resolved with the namespaces in scope where it stood:
    /// (namespace, local name). `i:type="b:int"` with `b` bound to XML Schema is
    /// `("http://www.w3.org/2001/XMLSchema", "int")`, whatever the prefixes.
    pub xsi_type: Option<(&'a str, Cow<'a, str>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Namespace URI; empty for unprefixed attributes.
    pub namespace: &'a str,
    pub name: &'a str,
    pub value: Cow<'a, str>,
}

impl<'a> Element<'a> {
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.name == name
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, namespace: &str, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.is(namespace, name))
    }

    /// Every child with this namespace and local name.
    pub fn children_named<'s>(
        &'s self,
        namespace: &'s str,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    pub fn attribute(&self, namespace: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.namespace == namespace && a.name == name)
            .map(|a| a.value.as_ref())
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
            .map(|child| child.text.as_ref())
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
            namespace: XSI_NS,
            name: "nil",
            value: "true".into(),
        };
        let parent = Element {
            namespace: "urn:x",
            name: "Op",
            children: Box::new([
                Element {
                    namespace: "urn:x",
                    name: "a",
                    text: "1".into(),
                    ..Element::default()
                },
                Element {
                    namespace: "urn:x",
                    name: "b",
                    attributes: Box::new([nil]),
                    ..Element::default()
                },
            ]),
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
