//! Text to an [`Element`] tree that borrows from the text, enforcing the [`Limits`] as it
//! reads, so a hostile document is refused after reading at most one limit's worth of it.
//!
//! quick-xml's `NsReader` checks the syntax and the namespace declarations (reserved
//! prefixes, the binding cap), but the names it resolves borrow from its own buffer. So
//! the builder keeps its own stack of bindings, slices of the input's `xmlns` attributes,
//! and resolves prefixes against it: a name costs no allocation. Children are gathered on
//! one shared stack and moved into an exactly sized list when their parent closes.

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{NamespaceError, PrefixDeclaration, QName};

use super::element::{Attribute, Element, XSI_NS};
use super::{Limits, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS, SoapError, SoapVersion};
use crate::error::ErrorCode;

/// Namespace bindings in scope at once; a real envelope needs a dozen.
const MAX_NAMESPACE_BINDINGS: usize = 256;
/// The namespaces bound by definition (Namespaces in XML, section 3).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Parses the document into an element tree, enforcing the limits as it goes.
pub(super) fn read_tree<'a>(text: &'a str, limits: &Limits) -> Result<Element<'a>, SoapError> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    reader
        .resolver_mut()
        .set_max_namespace_bindings(MAX_NAMESPACE_BINDINGS);
    let mut tree = Builder::new(text, *limits);
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(quick_xml::Error::Namespace(NamespaceError::TooManyBindings(limit))) => {
                return Err(tree.fail(
                    ErrorCode::LimitExceeded,
                    format!("more than {limit} namespace declarations in scope"),
                ));
            }
            Err(error) => {
                let at = reader.error_position() as usize;
                return Err(syntax(text, at, &error.to_string(), tree.version));
            }
        };
        tree.at = reader.buffer_position() as usize;
        match event {
            Event::Start(start) => tree.open(&start)?,
            Event::End(_) => tree.close()?,
            Event::Text(content) => tree.append_text(content.xml10_content())?,
            Event::CData(content) => tree.append_text(content.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)
                    .map_err(|message| tree.located(ErrorCode::MalformedRequest, message))?;
                tree.append_text(Cow::Owned(resolved.to_string()))?;
            }
            Event::DocType(_) => {
                return Err(tree.fail(
                    ErrorCode::DtdNotAllowed,
                    "a DOCTYPE is not allowed in SOAP messages".into(),
                ));
            }
            Event::PI(_) => {
                return Err(tree.fail(
                    ErrorCode::DtdNotAllowed,
                    "processing instructions are not allowed in SOAP messages".into(),
                ));
            }
            // Empty is never produced: empty elements are expanded into Start and End.
            Event::Decl(_) | Event::Comment(_) | Event::Empty(_) => {}
            Event::Eof => break,
        }
    }
    tree.finish()
}

/// `xsi:type` resolved: (namespace, local name).
type XsiType<'a> = (&'a str, Cow<'a, str>);

/// An element whose end tag has not been read yet.
struct Open<'a> {
    element: Element<'a>,
    /// Where its children start on [`Builder::closed`].
    first_child: usize,
    /// How many bindings were in scope before its own declarations.
    outer_bindings: usize,
}

struct Builder<'a> {
    input: &'a str,
    limits: Limits,
    /// Byte offset of the event being handled, for error locations.
    at: usize,
    version: Option<SoapVersion>,
    open: Vec<Open<'a>>,
    /// Closed elements whose parent is still open, in document order.
    closed: Vec<Element<'a>>,
    /// (prefix, namespace) in declaration order; the prefix is empty for `xmlns=`.
    bindings: Vec<(&'a str, &'a str)>,
    /// A new element's attributes other than namespace declarations, before resolving.
    pending: Vec<(QName<'a>, Cow<'a, str>)>,
    root: Option<Element<'a>>,
}

impl<'a> Builder<'a> {
    fn new(input: &'a str, limits: Limits) -> Self {
        Self {
            input,
            limits,
            at: 0,
            version: None,
            open: Vec::new(),
            closed: Vec::new(),
            bindings: Vec::new(),
            pending: Vec::new(),
            root: None,
        }
    }

    /// A fault in the envelope's version once that is known.
    fn fail(&self, code: ErrorCode, message: String) -> SoapError {
        let error = SoapError::new(code, message);
        match self.version {
            Some(version) => error.in_version(version),
            None => error,
        }
    }

    /// [`Builder::fail`] with the line and column of the current event.
    fn located(&self, code: ErrorCode, message: String) -> SoapError {
        let message = format!("{message} at {}", where_(self.input, self.at));
        self.fail(code, message)
    }

    fn open(&mut self, start: &BytesStart<'_>) -> Result<(), SoapError> {
        if self.root.is_some() {
            return Err(self.located(
                ErrorCode::MalformedRequest,
                "content after the envelope".into(),
            ));
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(self.fail(
                ErrorCode::LimitExceeded,
                format!("elements nest deeper than {} levels", self.limits.max_depth),
            ));
        }
        // The reader borrows every event from the input (it reads from a `&str`).
        let Some(content) = within(self.input, start) else {
            return Err(self.located(
                ErrorCode::MalformedRequest,
                "a start tag not read from the request".into(),
            ));
        };
        let qname_len = start.name().into_inner().len();
        let qname = QName(content.get(..qname_len).unwrap_or(content));
        let outer_bindings = self.bindings.len();
        let (local, prefix) = qname.decompose();
        let name = local.into_inner();
        self.read_attributes(Attributes::new(content, qname_len), name)?;
        let namespace = self
            .resolve(prefix.map(|p| p.into_inner()), true)
            .map_err(|prefix| {
                self.located(
                    ErrorCode::MalformedRequest,
                    format!("undeclared namespace prefix `{prefix}`"),
                )
            })?;
        let (attributes, xsi_type) = self.resolve_attributes(name)?;
        let element = Element {
            namespace,
            name,
            attributes,
            xsi_type,
            ..Element::default()
        };
        match self.open.last_mut() {
            Some(parent) => {
                // Text before the first child that is only whitespace is indentation.
                if self.closed.len() == parent.first_child && is_blank(&parent.element.text) {
                    parent.element.text = Cow::Borrowed("");
                }
            }
            None => self.version = Some(envelope_version(&element)?),
        }
        self.open.push(Open {
            element,
            first_child: self.closed.len(),
            outer_bindings,
        });
        Ok(())
    }

    /// Takes the namespace declarations into scope and the other attributes into
    /// [`Builder::pending`], checking the attribute count and value sizes.
    fn read_attributes(&mut self, attributes: Attributes<'a>, name: &str) -> Result<(), SoapError> {
        self.pending.clear();
        for (index, attribute) in attributes.enumerate() {
            if index >= self.limits.max_attributes {
                return Err(self.located(
                    ErrorCode::LimitExceeded,
                    format!(
                        "`{name}` has more than {} attributes",
                        self.limits.max_attributes
                    ),
                ));
            }
            let attribute = attribute.map_err(|error| {
                self.located(
                    ErrorCode::MalformedRequest,
                    format!("bad attribute in `{name}`: {error}"),
                )
            })?;
            if let Some(declaration) = attribute.key.as_namespace_binding() {
                self.declare(declaration, attribute.value);
                continue;
            }
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|error| {
                    self.located(
                        ErrorCode::MalformedRequest,
                        format!("bad attribute value in `{name}`: {error}"),
                    )
                })?;
            if value.len() > self.limits.max_text {
                return Err(self.located(
                    ErrorCode::LimitExceeded,
                    format!(
                        "an attribute of `{name}` exceeds {} bytes",
                        self.limits.max_text
                    ),
                ));
            }
            self.pending.push((attribute.key, value));
        }
        Ok(())
    }

    /// Records a declaration the reader has accepted. Its namespace is the raw attribute
    /// value, as quick-xml binds it, so it is a slice of the input.
    fn declare(&mut self, declaration: PrefixDeclaration<'a>, value: Cow<'a, str>) {
        let Cow::Borrowed(namespace) = value else {
            return;
        };
        match declaration {
            PrefixDeclaration::Default => self.bindings.push(("", namespace)),
            // `xml` is bound by definition (the reader refuses any other value) and
            // `xmlns` cannot be declared: neither is looked up here.
            PrefixDeclaration::Named("xml" | "xmlns") => {}
            PrefixDeclaration::Named(prefix) => self.bindings.push((prefix, namespace)),
        }
    }

    /// The pending attributes with their namespaces, and the element's `xsi:type`.
    fn resolve_attributes(
        &mut self,
        name: &str,
    ) -> Result<(Vec<Attribute<'a>>, Option<XsiType<'a>>), SoapError> {
        // Taken out and put back so that its buffer serves every element.
        let mut pending = std::mem::take(&mut self.pending);
        let mut attributes = Vec::with_capacity(pending.len());
        let mut xsi_type = None;
        for (key, value) in pending.drain(..) {
            let (local, prefix) = key.decompose();
            let namespace = self
                .resolve(prefix.map(|p| p.into_inner()), false)
                .map_err(|prefix| {
                    self.located(
                        ErrorCode::MalformedRequest,
                        format!(
                            "undeclared namespace prefix `{prefix}` on an attribute of `{name}`"
                        ),
                    )
                })?;
            let name_of_attribute = local.into_inner();
            if namespace == XSI_NS && name_of_attribute == "type" {
                xsi_type = Some(self.resolve_qname_value(&value).map_err(|prefix| {
                    self.located(
                        ErrorCode::MalformedRequest,
                        format!(
                            "undeclared namespace prefix `{prefix}` in the xsi:type of `{name}`"
                        ),
                    )
                })?);
            }
            attributes.push(Attribute {
                namespace,
                name: name_of_attribute,
                value,
            });
        }
        self.pending = pending;
        Ok((attributes, xsi_type))
    }

    /// A QName-valued attribute (`b:int`) resolved like an element name: the default
    /// namespace applies to an unprefixed value, as XML Schema says for QName values.
    fn resolve_qname_value(&self, value: &Cow<'a, str>) -> Result<XsiType<'a>, String> {
        let (local, prefix) = QName(value.trim()).decompose();
        let namespace = self.resolve(prefix.map(|p| p.into_inner()), true)?;
        let local = match *value {
            Cow::Borrowed(value) => Cow::Borrowed(QName(value.trim()).local_name().into_inner()),
            Cow::Owned(_) => Cow::Owned(local.into_inner().to_string()),
        };
        Ok((namespace, local))
    }

    /// The namespace `prefix` denotes here; `use_default` for element names (an
    /// unprefixed attribute is in no namespace). An undeclared prefix is the error.
    fn resolve(&self, prefix: Option<&str>, use_default: bool) -> Result<&'a str, String> {
        match prefix {
            None if !use_default => Ok(""),
            None => Ok(self.bound("").unwrap_or("")),
            Some("xml") => Ok(XML_NS),
            Some("xmlns") => Ok(XMLNS_NS),
            // `xmlns:p=""` undeclares `p`.
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

    fn close(&mut self) -> Result<(), SoapError> {
        let Some(done) = self.open.pop() else {
            return Err(self.fail(ErrorCode::MalformedRequest, "unexpected end tag".into()));
        };
        self.bindings.truncate(done.outer_bindings);
        let mut element = done.element;
        element.children = self.closed.drain(done.first_child..).collect();
        if self.open.is_empty() {
            self.root = Some(element);
        } else {
            self.closed.push(element);
        }
        Ok(())
    }

    fn append_text(&mut self, content: Cow<'a, str>) -> Result<(), SoapError> {
        let Some(open) = self.open.last_mut() else {
            if content.trim().is_empty() {
                return Ok(());
            }
            return Err(self.located(
                ErrorCode::MalformedRequest,
                "text outside the root element".into(),
            ));
        };
        let has_children = self.closed.len() > open.first_child;
        if has_children && is_blank(&content) {
            return Ok(());
        }
        let text = &mut open.element.text;
        if text.len() + content.len() > self.limits.max_text {
            let message = format!(
                "the text of `{}` exceeds {} bytes",
                open.element.name, self.limits.max_text
            );
            return Err(self.located(ErrorCode::LimitExceeded, message));
        }
        if text.is_empty() {
            *text = content;
        } else {
            text.to_mut().push_str(&content);
        }
        Ok(())
    }

    fn finish(self) -> Result<Element<'a>, SoapError> {
        if let Some(open) = self.open.last() {
            return Err(SoapError::new(
                ErrorCode::MalformedRequest,
                format!(
                    "the document ends inside `<{}>` (truncated?)",
                    open.element.name
                ),
            ));
        }
        self.root
            .ok_or_else(|| SoapError::new(ErrorCode::MalformedRequest, "no root element"))
    }
}

/// `part` as a slice of `input` with the input's lifetime, when it lies within it.
/// quick-xml hands out slices of the input under the event's shorter lifetime; this
/// recovers the longer one without copying (and without unsafe code).
fn within<'a>(input: &'a str, part: &str) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(start..start.checked_add(part.len())?)
}

/// Only XML whitespace (space, tab, line feed, carriage return).
fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// `&lt;` and friends and character references; anything else would need a DTD.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, String> {
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
pub(super) fn envelope_version(root: &Element<'_>) -> Result<SoapVersion, SoapError> {
    if root.name != "Envelope" {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("not a SOAP envelope: the root element is `{}`", root.name),
        ));
    }
    SoapVersion::from_envelope_namespace(root.namespace).ok_or_else(|| {
        SoapError::new(
            ErrorCode::VersionMismatch,
            format!(
                "the envelope namespace `{}` is neither SOAP 1.1 ({SOAP11_ENVELOPE_NS}) nor SOAP 1.2 ({SOAP12_ENVELOPE_NS})",
                root.namespace
            ),
        )
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
