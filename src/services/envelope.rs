//! What the SOAP dialects share when they read a body: one home for "a blank element is
//! an absent one", which every dialect applies to names, keys and messages.

use crate::soap::Element;

/// The trimmed text of `parent`'s child `name`; absent, nil or blank is `None`.
pub fn filled_text<'a>(parent: &'a Element, namespace: &str, name: &str) -> Option<&'a str> {
    parent
        .optional_text(namespace, name)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}
