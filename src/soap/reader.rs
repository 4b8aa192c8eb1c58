//! The envelope reader: UTF-8 text in, an [`Envelope`] out, or a [`SoapError`] that says
//! precisely what is wrong and where.
//!
//! It is built on quick-xml's `NsReader`, so prefixes are resolved to namespaces and
//! never matter. It refuses what a SOAP endpoint must not process: any DOCTYPE (which
//! also rules out XXE and entity-expansion bombs, since no entity can be declared) and
//! processing instructions. It keeps its own depth counter and checks attribute counts
//! and text sizes as it goes, so a hostile document is refused after reading at most
//! one limit's worth of it. The whole body subtree is kept as an [`Element`] tree for
//! the typed decoders; its size is bounded by the body size cap.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceError, QName, ResolveResult};

use super::element::{Attribute, Element, XSI_NS};
use super::{Limits, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS, SoapError, SoapVersion};
use crate::error::ErrorCode;

/// Namespace bindings in scope at once; a real envelope needs a dozen.
const MAX_NAMESPACE_BINDINGS: usize = 256;

/// A header block and how it is targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock {
    pub element: Element,
    pub must_understand: bool,
    /// Addressed to us: no actor/role, or `next`, or (1.2) `ultimateReceiver`.
    pub for_us: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: SoapVersion,
    pub headers: Vec<HeaderBlock>,
    /// The Body's first child element: the operation (or the one-way message).
    pub body: Element,
}

impl Envelope {
    /// The first header block addressed to us that has `mustUnderstand` set and is not in
    /// `understood` (namespace, local name): the MustUnderstand fault to answer.
    pub fn check_must_understand(&self, understood: &[(&str, &str)]) -> Result<(), SoapError> {
        let missed: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|h| h.must_understand && h.for_us)
            .filter(|h| !understood.iter().any(|(ns, name)| h.element.is(ns, name)))
            .map(|h| (h.element.namespace.clone(), h.element.name.clone()))
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
pub fn read_envelope(text: &str, limits: &Limits) -> Result<Envelope, SoapError> {
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

/// Parses the document into an element tree, enforcing the limits as it goes.
fn read_tree(text: &str, limits: &Limits) -> Result<Element, SoapError> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    reader
        .resolver_mut()
        .set_max_namespace_bindings(MAX_NAMESPACE_BINDINGS);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut version: Option<SoapVersion> = None;
    loop {
        let (namespace, event) = match reader.read_resolved_event() {
            Ok((resolved, event)) => (namespace_of(resolved), event),
            Err(quick_xml::Error::Namespace(NamespaceError::TooManyBindings(limit))) => {
                let error = SoapError::new(
                    ErrorCode::LimitExceeded,
                    format!("more than {limit} namespace declarations in scope"),
                );
                return Err(match version {
                    Some(v) => error.in_version(v),
                    None => error,
                });
            }
            Err(error) => {
                let at = reader.error_position() as usize;
                return Err(syntax(text, at, &error.to_string(), version));
            }
        };
        let at = reader.buffer_position() as usize;
        let fail = |code: ErrorCode, message: String| {
            let error = SoapError::new(code, message);
            match version {
                Some(v) => error.in_version(v),
                None => error,
            }
        };
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(fail(
                        ErrorCode::MalformedRequest,
                        format!("content after the envelope at {}", where_(text, at)),
                    ));
                }
                if stack.len() >= limits.max_depth {
                    return Err(fail(
                        ErrorCode::LimitExceeded,
                        format!("elements nest deeper than {} levels", limits.max_depth),
                    ));
                }
                let namespace = namespace.map_err(|prefix| {
                    fail(
                        ErrorCode::MalformedRequest,
                        format!(
                            "undeclared namespace prefix `{prefix}` at {}",
                            where_(text, at)
                        ),
                    )
                })?;
                let element = open_element(&reader, namespace, &start, limits).map_err(
                    |(code, message)| fail(code, format!("{message} at {}", where_(text, at))),
                )?;
                if stack.is_empty() {
                    version = Some(envelope_version(&element)?);
                }
                stack.push(element);
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(fail(
                        ErrorCode::MalformedRequest,
                        "unexpected end tag".into(),
                    ));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(content) => {
                append_text(&mut stack, &content.xml10_content(), limits).map_err(
                    |(code, message)| fail(code, format!("{message} at {}", where_(text, at))),
                )?;
            }
            Event::CData(content) => {
                append_text(&mut stack, &content.xml10_content(), limits).map_err(
                    |(code, message)| fail(code, format!("{message} at {}", where_(text, at))),
                )?;
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference).map_err(|message| {
                    fail(
                        ErrorCode::MalformedRequest,
                        format!("{message} at {}", where_(text, at)),
                    )
                })?;
                append_text(&mut stack, resolved.encode_utf8(&mut [0; 4]), limits).map_err(
                    |(code, message)| fail(code, format!("{message} at {}", where_(text, at))),
                )?;
            }
            Event::DocType(_) => {
                return Err(fail(
                    ErrorCode::DtdNotAllowed,
                    "a DOCTYPE is not allowed in SOAP messages".into(),
                ));
            }
            Event::PI(_) => {
                return Err(fail(
                    ErrorCode::DtdNotAllowed,
                    "processing instructions are not allowed in SOAP messages".into(),
                ));
            }
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Empty(_) => {
                // Never produced: empty elements are expanded into Start and End.
            }
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("the document ends inside `<{}>` (truncated?)", open.name),
        ));
    }
    root.ok_or_else(|| SoapError::new(ErrorCode::MalformedRequest, "no root element"))
}

type Problem = (ErrorCode, String);

fn namespace_of(resolved: ResolveResult<'_>) -> Result<String, String> {
    match resolved {
        ResolveResult::Bound(namespace) => Ok(namespace.into_inner().to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(prefix) => Err(prefix),
    }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    namespace: String,
    start: &BytesStart<'_>,
    limits: &Limits,
) -> Result<Element, Problem> {
    let name = start.local_name().into_inner().to_string();
    let mut attributes = Vec::new();
    let mut xsi_type = None;
    for (index, attribute) in start.attributes().enumerate() {
        if index >= limits.max_attributes {
            return Err((
                ErrorCode::LimitExceeded,
                format!(
                    "`{name}` has more than {} attributes",
                    limits.max_attributes
                ),
            ));
        }
        let attribute = attribute.map_err(|error| {
            (
                ErrorCode::MalformedRequest,
                format!("bad attribute in `{name}`: {error}"),
            )
        })?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let attribute_namespace = namespace_of(resolved).map_err(|prefix| {
            (
                ErrorCode::MalformedRequest,
                format!("undeclared namespace prefix `{prefix}` on an attribute of `{name}`"),
            )
        })?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|error| {
                (
                    ErrorCode::MalformedRequest,
                    format!("bad attribute value in `{name}`: {error}"),
                )
            })?;
        if value.len() > limits.max_text {
            return Err((
                ErrorCode::LimitExceeded,
                format!("an attribute of `{name}` exceeds {} bytes", limits.max_text),
            ));
        }
        let local = local.into_inner();
        if attribute_namespace == XSI_NS && local == "type" {
            xsi_type = Some(resolve_qname_value(reader, value.trim()).map_err(|prefix| {
                (
                    ErrorCode::MalformedRequest,
                    format!("undeclared namespace prefix `{prefix}` in the xsi:type of `{name}`"),
                )
            })?);
        }
        attributes.push(Attribute {
            namespace: attribute_namespace,
            name: local.to_string(),
            value: value.into_owned(),
        });
    }
    Ok(Element {
        namespace,
        name,
        attributes,
        children: Vec::new(),
        text: String::new(),
        xsi_type,
    })
}

/// A QName-valued attribute (`b:int`) resolved like an element name: the default
/// namespace applies to an unprefixed value, as XML Schema says for QName values.
fn resolve_qname_value(reader: &NsReader<&[u8]>, value: &str) -> Result<(String, String), String> {
    let (resolved, local) = reader.resolver().resolve_element(QName(value));
    let namespace = namespace_of(resolved)?;
    Ok((namespace, local.into_inner().to_string()))
}

fn append_text(stack: &mut [Element], content: &str, limits: &Limits) -> Result<(), Problem> {
    match stack.last_mut() {
        Some(element) => {
            if element.text.len() + content.len() > limits.max_text {
                return Err((
                    ErrorCode::LimitExceeded,
                    format!(
                        "the text of `{}` exceeds {} bytes",
                        element.name, limits.max_text
                    ),
                ));
            }
            element.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err((
            ErrorCode::MalformedRequest,
            "text outside the root element".to_string(),
        )),
    }
}

/// `&lt;` and friends and character references; anything else would need a DTD.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, String> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(format!(
                "invalid character reference `&{};`",
                reference.xml10_content()
            )),
        };
    }
    match &*reference.xml10_content() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!(
            "undefined entity `&{other};` (entities cannot be declared: DTDs are not allowed)"
        )),
    }
}

/// The root must be an `Envelope` in a SOAP namespace.
fn envelope_version(root: &Element) -> Result<SoapVersion, SoapError> {
    if root.name != "Envelope" {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("not a SOAP envelope: the root element is `{}`", root.name),
        ));
    }
    SoapVersion::from_envelope_namespace(&root.namespace).ok_or_else(|| {
        SoapError::new(
            ErrorCode::VersionMismatch,
            format!(
                "the envelope namespace `{}` is neither SOAP 1.1 ({SOAP11_ENVELOPE_NS}) nor SOAP 1.2 ({SOAP12_ENVELOPE_NS})",
                root.namespace
            ),
        )
    })
}

/// Splits the envelope into header blocks and the body's first child.
fn interpret(root: Element) -> Result<Envelope, SoapError> {
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

fn header_block(element: Element, version: SoapVersion) -> Result<HeaderBlock, SoapError> {
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

/// `line L, column C` of a byte offset.
fn where_(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

fn syntax(text: &str, offset: usize, error: &str, version: Option<SoapVersion>) -> SoapError {
    let error = SoapError::new(
        ErrorCode::MalformedRequest,
        format!("malformed XML at {}: {error}", where_(text, offset)),
    );
    match version {
        Some(v) => error.in_version(v),
        None => error,
    }
}
