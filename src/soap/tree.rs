//! Text to an [`Element`] tree that borrows from the text, enforcing the [`Limits`] as it
//! reads, so a hostile document is refused after reading at most one limit's worth of it.
//!
//! quick-xml's `Reader` checks the syntax; namespaces are resolved here, against a
//! [`Scope`] of bindings borrowed from the input, because quick-xml's own resolver hands
//! out names that borrow from its buffer (and copies every declaration into it). A name
//! thus costs no allocation. Every element is built in place on one stack, where its
//! children follow it, and they move into an exactly sized list when it closes.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::QName;

use super::element::{Attribute, Element, XSI_NS};
use super::scope::Scope;
use super::{Limits, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS, SoapError, SoapVersion};
use crate::error::ErrorCode;

/// Parses the document into an element tree, enforcing the limits as it goes.
pub(super) fn read_tree<'a>(text: &'a str, limits: &Limits) -> Result<Element<'a>, SoapError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut tree = Builder::new(text, *limits);
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => {
                let at = reader.error_position() as usize;
                return Err(syntax(text, at, &error.to_string(), tree.version));
            }
        };
        tree.at = reader.buffer_position() as usize;
        match event {
            Event::Start(start) => tree.open(&start)?,
            Event::End(_) => tree.close()?,
            Event::Text(content) if tree.is_indentation(&content) => {}
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
struct Open {
    /// Where it stands on [`Builder::elements`]; its children follow it there.
    index: usize,
    /// The [`Scope::mark`] before its own declarations.
    scope_mark: usize,
}

struct Builder<'a> {
    input: &'a str,
    limits: Limits,
    /// Byte offset of the event being handled, for error locations.
    at: usize,
    version: Option<SoapVersion>,
    open: Vec<Open>,
    /// The open elements, each followed by its children read so far, in document order.
    elements: Vec<Element<'a>>,
    scope: Scope<'a>,
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
            // Sized for a typical envelope, so that they rarely grow while reading one.
            open: Vec::with_capacity(16),
            elements: Vec::with_capacity(32),
            scope: Scope::default(),
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

    /// A prefix no `xmlns` in scope declares; `place` says where it stood, after the name.
    fn undeclared(&self, prefix: &str, place: std::fmt::Arguments<'_>) -> SoapError {
        self.located(
            ErrorCode::MalformedRequest,
            format!("undeclared namespace prefix `{prefix}`{place}"),
        )
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
        let scope_mark = self.scope.mark();
        let (local, prefix) = qname.decompose();
        let name = local.into_inner();
        self.read_attributes(Attributes::new(content, qname_len), name)?;
        let namespace = self
            .scope
            .resolve(prefix.map(|p| p.into_inner()), true)
            .map_err(|prefix| self.undeclared(&prefix, format_args!("")))?;
        let (attributes, xsi_type) = self.resolve_attributes(name)?;
        let element = Element {
            namespace,
            name,
            attributes,
            xsi_type,
            ..Element::default()
        };
        match self.open.last() {
            Some(parent) => {
                // Text before the first child that is only whitespace is indentation.
                let first_child = self.elements.len() == parent.index + 1;
                if let Some(parent) = self.elements.get_mut(parent.index)
                    && first_child
                    && is_blank(&parent.text)
                {
                    parent.text = Cow::Borrowed("");
                }
            }
            None => self.version = Some(envelope_version(&element)?),
        }
        self.open.push(Open {
            index: self.elements.len(),
            scope_mark,
        });
        self.elements.push(element);
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
                // The attributes iterate over the input, so the raw value is borrowed.
                if let Cow::Borrowed(namespace) = attribute.value {
                    self.scope
                        .declare(declaration, namespace)
                        .map_err(|(code, message)| self.located(code, message))?;
                }
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

    /// The pending attributes with their namespaces, and the element's `xsi:type`.
    fn resolve_attributes(
        &mut self,
        name: &str,
    ) -> Result<(Box<[Attribute<'a>]>, Option<XsiType<'a>>), SoapError> {
        // Taken out and put back so that its buffer serves every element.
        let mut pending = std::mem::take(&mut self.pending);
        let mut attributes = Vec::with_capacity(pending.len());
        let mut xsi_type = None;
        for (key, value) in pending.drain(..) {
            let (local, prefix) = key.decompose();
            let namespace = self
                .scope
                .resolve(prefix.map(|p| p.into_inner()), false)
                .map_err(|prefix| {
                    self.undeclared(&prefix, format_args!(" on an attribute of `{name}`"))
                })?;
            let name_of_attribute = local.into_inner();
            if namespace == XSI_NS && name_of_attribute == "type" {
                xsi_type = Some(self.resolve_qname_value(&value).map_err(|prefix| {
                    self.undeclared(&prefix, format_args!(" in the xsi:type of `{name}`"))
                })?);
            }
            attributes.push(Attribute {
                namespace,
                name: name_of_attribute,
                value,
            });
        }
        self.pending = pending;
        Ok((attributes.into_boxed_slice(), xsi_type))
    }

    /// A QName-valued attribute (`b:int`) resolved like an element name: the default
    /// namespace applies to an unprefixed value, as XML Schema says for QName values.
    fn resolve_qname_value(&self, value: &Cow<'a, str>) -> Result<XsiType<'a>, String> {
        let (local, prefix) = QName(value.trim()).decompose();
        let namespace = self.scope.resolve(prefix.map(|p| p.into_inner()), true)?;
        let local = match *value {
            Cow::Borrowed(value) => Cow::Borrowed(QName(value.trim()).local_name().into_inner()),
            Cow::Owned(_) => Cow::Owned(local.into_inner().to_string()),
        };
        Ok((namespace, local))
    }

    fn close(&mut self) -> Result<(), SoapError> {
        let Some(done) = self.open.pop() else {
            return Err(self.fail(ErrorCode::MalformedRequest, "unexpected end tag".into()));
        };
        self.scope.leave(done.scope_mark);
        if self.elements.len() > done.index + 1 {
            let children = self.elements.drain(done.index + 1..).collect();
            if let Some(element) = self.elements.get_mut(done.index) {
                element.children = children;
            }
        }
        if self.open.is_empty() {
            self.root = self.elements.pop();
        }
        Ok(())
    }

    /// Whitespace that [`Builder::append_text`] would drop, told before the text is
    /// normalized (most text events of an indented envelope are such whitespace).
    fn is_indentation(&self, raw: &str) -> bool {
        let beside_elements = match self.open.last() {
            Some(open) => self.elements.len() > open.index + 1,
            None => true,
        };
        beside_elements && is_blank(raw)
    }

    fn append_text(&mut self, content: Cow<'a, str>) -> Result<(), SoapError> {
        let Some(open) = self.open.last() else {
            if content.trim().is_empty() {
                return Ok(());
            }
            return Err(self.located(
                ErrorCode::MalformedRequest,
                "text outside the root element".into(),
            ));
        };
        let has_children = self.elements.len() > open.index + 1;
        if has_children && is_blank(&content) {
            return Ok(());
        }
        let max_text = self.limits.max_text;
        let Some(element) = self.elements.get_mut(open.index) else {
            return Ok(());
        };
        if element.text.len() + content.len() > max_text {
            let message = format!("the text of `{}` exceeds {max_text} bytes", element.name);
            return Err(self.located(ErrorCode::LimitExceeded, message));
        }
        let text = &mut element.text;
        if text.is_empty() {
            *text = content;
        } else {
            text.to_mut().push_str(&content);
        }
        Ok(())
    }

    fn finish(self) -> Result<Element<'a>, SoapError> {
        let innermost = self
            .open
            .last()
            .and_then(|open| self.elements.get(open.index));
        if let Some(open) = innermost {
            return Err(SoapError::new(
                ErrorCode::MalformedRequest,
                format!("the document ends inside `<{}>` (truncated?)", open.name),
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
