//! The envelope reader: UTF-8 text in, an [`Envelope`] out, or a [`SoapError`] that says
//! precisely what is wrong and where.
//!
//! It is built on quick-xml's `Reader`, with prefixes resolved to namespaces as it reads
//! ([`super::scope`]), so they never matter. It refuses what a SOAP endpoint must not process: any DOCTYPE (which
//! also rules out XXE and entity-expansion bombs, since no entity can be declared) and
//! processing instructions. [`super::tree`] keeps its own depth counter and checks
//! attribute counts and text sizes as it goes, so a hostile document is refused after
//! reading at most one limit's worth of it. The whole body subtree is kept as an
//! [`Element`] tree, borrowed from the text, for the typed decoders; its size is bounded
//! by the body size cap.

use super::element::Element;
use super::tree::{envelope_version, read_tree};
use super::{Limits, SoapError, SoapVersion};
use crate::error::ErrorCode;

/// A header block and how it is targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock<'a> {
    pub element: Element<'a>,
    pub must_understand: bool,
    /// Addressed to us: no actor/role, or `next`, or (1.2) `ultimateReceiver`.
    pub for_us: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub version: SoapVersion,
    pub headers: Vec<HeaderBlock<'a>>,
    /// The Body's first child element: the operation (or the one-way message).
    pub body: Element<'a>,
}

impl Envelope<'_> {
    /// The first header block addressed to us that has `mustUnderstand` set and is
    /// neither WS-Addressing ([`super::addressing`], understood by every service) nor in
    /// `understood` (namespace, local name): the MustUnderstand fault to answer.
    pub fn check_must_understand(&self, understood: &[(&str, &str)]) -> Result<(), SoapError> {
        let missed: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|h| h.must_understand && h.for_us && !super::addressing::understands(h))
            .filter(|h| !understood.iter().any(|(ns, name)| h.element.is(ns, name)))
            .map(|h| (h.element.namespace.to_string(), h.element.name.to_string()))
            .collect();
        let Some((namespace, name)) = missed.first() else {
            return Ok(());
        };
        let mut error = SoapError::new(
            ErrorCode::MustUnderstand,
            format!("header block `{name}` in namespace `{namespace}` is marked mustUnderstand but is not processed here"),
        )
        .in_version(self.version);
        error.not_understood = missed;
        Err(error)
    }
}

/// Reads a whole envelope.
pub fn read_envelope<'a>(text: &'a str, limits: &Limits) -> Result<Envelope<'a>, SoapError> {
    if text.trim().is_empty() {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            "the request body is empty",
        ));
    }
    if text.len() > limits.max_body {
        return Err(SoapError::new(
            ErrorCode::LimitExceeded,
            format!("the body exceeds the limit of {} bytes", limits.max_body),
        ));
    }
    let root = read_tree(text, limits)?;
    interpret(root)
}

/// Splits the envelope into header blocks and the body's first child.
fn interpret(root: Element<'_>) -> Result<Envelope<'_>, SoapError> {
    let version = envelope_version(&root)?;
    let ns = version.envelope_namespace();
    let malformed =
        |message: String| SoapError::new(ErrorCode::MalformedRequest, message).in_version(version);
    let mut headers = Vec::new();
    let mut body = None;
    for child in root.children {
        if child.is(ns, "Header") && body.is_none() {
            for block in child.children {
                headers.push(header_block(block, version)?);
            }
        } else if child.is(ns, "Body") {
            body = Some(child);
        } else if body.is_none() {
            return Err(malformed(format!(
                "unexpected element `{}` in the envelope (expected Header or Body)",
                child.name
            )));
        }
    }
    let body = body.ok_or_else(|| malformed("the envelope has no Body".into()))?;
    let operation = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| malformed("the Body is empty".into()))?;
    Ok(Envelope {
        version,
        headers,
        body: operation,
    })
}

fn header_block(element: Element<'_>, version: SoapVersion) -> Result<HeaderBlock<'_>, SoapError> {
    let ns = version.envelope_namespace();
    let must_understand = match (
        version,
        element.attribute(ns, "mustUnderstand").map(str::trim),
    ) {
        (_, None) => false,
        (_, Some("1")) => true,
        (_, Some("0")) => false,
        (SoapVersion::V12, Some("true")) => true,
        (SoapVersion::V12, Some("false")) => false,
        (_, Some(other)) => {
            let allowed = match version {
                SoapVersion::V11 => "\"0\" or \"1\"",
                SoapVersion::V12 => "\"true\", \"false\", \"1\" or \"0\"",
            };
            return Err(SoapError::new(
                ErrorCode::MalformedRequest,
                format!(
                    "mustUnderstand=\"{other}\" on header block `{}`: use {allowed}",
                    element.name
                ),
            )
            .in_version(version));
        }
    };
    let for_us = match version {
        SoapVersion::V11 => match element.attribute(ns, "actor") {
            None => true,
            Some(actor) => actor == "http://schemas.xmlsoap.org/soap/actor/next",
        },
        SoapVersion::V12 => match element.attribute(ns, "role") {
            None => true,
            Some(role) => matches!(
                role,
                "http://www.w3.org/2003/05/soap-envelope/role/next"
                    | "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"
            ),
        },
    };
    Ok(HeaderBlock {
        element,
        must_understand,
        for_us,
    })
}
