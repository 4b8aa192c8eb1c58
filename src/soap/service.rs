//! What a SOAP service declares, and the dispatch rules that use it.
//!
//! Dispatch is by the namespace and local name of the Body's first child, never by
//! SOAPAction: clients send `""`, the bare operation name or a full URI. A non-empty
//! SOAPAction (1.1 header, 1.2 `action` parameter) is still checked: when its last
//! segment names a *different* operation of the same service, the request is refused, so
//! a gateway that authorises by SOAPAction cannot be tricked into running another
//! operation than the one it approved.

use super::{SoapError, SoapVersion};
use crate::error::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    /// One-way operations answer an empty `202 Accepted`.
    pub one_way: bool,
}

#[derive(Debug, Clone)]
pub struct ServiceDescriptor {
    pub name: &'static str,
    /// The dialect its calls are recorded and measured under (`soap`, `sharepoint`, …).
    pub dialect: &'static str,
    /// Every path the service is mounted at.
    pub paths: Vec<String>,
    /// Namespace of the operation elements.
    pub namespace: &'static str,
    pub operations: &'static [Operation],
    /// The SOAP versions it binds.
    pub versions: &'static [SoapVersion],
    /// WSDL text with `{{address}}` where the endpoint address goes.
    pub wsdl: String,
}

impl ServiceDescriptor {
    /// The operation a body element calls, or `unknown_operation` naming it.
    pub fn operation(&self, namespace: &str, name: &str) -> Result<&Operation, SoapError> {
        if namespace == self.namespace
            && let Some(operation) = self.operations.iter().find(|op| op.name == name)
        {
            return Ok(operation);
        }
        let known: Vec<&str> = self.operations.iter().map(|op| op.name).collect();
        Err(SoapError::new(
            ErrorCode::UnknownOperation,
            format!(
                "`{name}` in namespace `{namespace}` is not an operation of {} (namespace `{}`: {})",
                self.name,
                self.namespace,
                known.join(", ")
            ),
        ))
    }

    /// Refuses a SOAPAction that names another operation of this service than `called`.
    pub fn check_action(&self, action: Option<&str>, called: &Operation) -> Result<(), SoapError> {
        let Some(action) = action
            .map(|a| a.trim().trim_matches('"'))
            .filter(|a| !a.is_empty())
        else {
            return Ok(());
        };
        let named = action.rsplit(['/', '#', ':']).next().unwrap_or(action);
        match self.operations.iter().find(|op| op.name == named) {
            Some(other) if other.name != called.name => Err(SoapError::new(
                ErrorCode::MalformedRequest,
                format!(
                    "the SOAPAction `{action}` names operation `{}` but the body calls `{}`",
                    other.name, called.name
                ),
            )),
            _ => Ok(()),
        }
    }

    pub fn supports(&self, version: SoapVersion) -> bool {
        self.versions.contains(&version)
    }

    /// The WSDL with `soap:address` set to `address` (the URL the request reached).
    pub fn wsdl_for(&self, address: &str) -> String {
        let mut escaped = String::with_capacity(address.len());
        super::writer::escape_attribute(&mut escaped, address);
        self.wsdl.replace("{{address}}", &escaped)
    }
}

/// A WSDL with its schema inlined where `<!--{{schema}}-->` stands (the schema's own XML
/// declaration dropped), so that `wsdl/` and `schemas/` stay separate, readable files.
pub fn inline_schema(wsdl: &str, schema: &str) -> String {
    let schema = schema
        .split_once("?>")
        .map_or(schema, |(_, rest)| rest)
        .trim();
    wsdl.replace("<!--{{schema}}-->", schema)
}

/// Whether a query string asks for the WSDL (`?wsdl`, `?WSDL`, `?wsdl&x`, `?singleWsdl`).
pub fn wants_wsdl(query: &str) -> bool {
    query.split('&').any(|part| {
        let key = part.split('=').next().unwrap_or("");
        key.eq_ignore_ascii_case("wsdl") || key.eq_ignore_ascii_case("singlewsdl")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[Operation] = &[
        Operation {
            name: "Open",
            one_way: false,
        },
        Operation {
            name: "Finish",
            one_way: false,
        },
    ];

    fn service() -> ServiceDescriptor {
        ServiceDescriptor {
            name: "Test",
            dialect: "test",
            paths: vec!["/t".into()],
            namespace: "urn:t",
            operations: OPS,
            versions: &[SoapVersion::V11],
            wsdl: "<address location=\"{{address}}\"/>".into(),
        }
    }

    #[test]
    fn actions_route_nothing_but_may_not_lie() {
        let s = service();
        let finish = s.operation("urn:t", "Finish").unwrap();
        for fine in [
            None,
            Some(""),
            Some("\"\""),
            Some("Finish"),
            Some("\"urn:t/Finish\""),
            Some("urn:t#Other"),
        ] {
            assert!(s.check_action(fine, finish).is_ok(), "{fine:?}");
        }
        let spoofed = s.check_action(Some("\"urn:t/Open\""), finish).unwrap_err();
        assert_eq!(spoofed.code, ErrorCode::MalformedRequest);
        assert!(spoofed.message.contains("names operation `Open`"));
        assert_eq!(
            s.operation("urn:other", "Finish").unwrap_err().code,
            ErrorCode::UnknownOperation
        );
    }

    #[test]
    fn wsdl_queries_and_addresses() {
        assert!(wants_wsdl("wsdl"));
        assert!(wants_wsdl("WSDL"));
        assert!(wants_wsdl("x=1&Wsdl"));
        assert!(wants_wsdl("singleWsdl"));
        assert!(!wants_wsdl("wsdlx"));
        assert!(!wants_wsdl(""));
        assert_eq!(
            service().wsdl_for("http://h/t?a=1&b=\"2\""),
            "<address location=\"http://h/t?a=1&amp;b=&quot;2&quot;\"/>"
        );
    }
}
