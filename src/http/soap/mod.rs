//! SOAP over HTTP: the glue between actix and the sans-I/O [`crate::soap`] module.
//!
//! `POST {path}`: the body is read under the size cap (413 before parsing), decoded
//! (charset from the Content-Type), parsed, and checked in this order: Content-Type
//! against the envelope's version, the service's versions, WS-Addressing headers,
//! mustUnderstand headers, the operation, the WS-Addressing `Action`, the SOAPAction. Then
//! the service runs the call; when the request was addressed, so is its answer or fault. A fault is answered in the
//! request's SOAP version (SOAP 1.1 when the envelope could not be recognised, unless the
//! Content-Type says 1.2) with the status of [`ErrorCode::soap_http_status`] (for SOAP 1.2
//! Sender faults, the node's `[soap] sender_fault_status`). What a service can decide from
//! the request line alone ([`SoapService::admit`]: a receiver key in the query) is decided
//! before the body is read.
//! `GET {path}?wsdl` serves the WSDL with `soap:address` set to the URL it was reached at.

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

mod service;

pub use service::{
    HeaderCredentials, SoapCall, SoapService, basic_fault, engine_fault, one_way, request_response,
};

use super::EdgeState;
use super::auth::{basic_credentials, basic_principal};
use super::body::{declared_length, read_limited};
use crate::auth::Principal;
use crate::error::{ErrorCode, SenderFaultStatus};
use crate::soap::service::wants_wsdl;
use crate::soap::{SoapError, SoapVersion, addressing, decode, read_envelope, writer};

/// Mounts every service at each of its paths.
pub fn configure(config: &mut web::ServiceConfig, services: &[Arc<dyn SoapService>]) {
    for service in services {
        let dialect = service.descriptor().dialect;
        for path in &service.descriptor().paths {
            let for_post = Arc::clone(service);
            let for_get = Arc::clone(service);
            // Known here, so the metrics need not match the path against every route again.
            let route = crate::metrics::intern(path);
            let observed = move |operation| super::observe::Observed {
                dialect,
                operation,
                route: Some(route),
            };
            config.route(
                path,
                web::post().to(
                    move |request: HttpRequest,
                          payload: web::Payload,
                          state: web::Data<EdgeState>| {
                        let service = Arc::clone(&for_post);
                        // The operation is filled in once the envelope names it.
                        request.extensions_mut().insert(observed("unknown"));
                        async move { post(request, payload, state, service).await }
                    },
                ),
            );
            config.route(
                path,
                web::get().to(move |request: HttpRequest| {
                    let service = Arc::clone(&for_get);
                    request.extensions_mut().insert(observed("wsdl"));
                    async move { get(request, service) }
                }),
            );
        }
    }
}

/// The Content-Type's media type and parameter names (lowercase), and the parameters'
/// values. Borrowed from the header unless it has capitals: this runs on every request.
fn content_type(request: &HttpRequest) -> (Cow<'_, str>, Vec<(Cow<'_, str>, &str)>) {
    let raw = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    // `to_str` lets through only visible ASCII, spaces and tabs: trimming ASCII whitespace
    // is trimming all of it, without decoding characters.
    let mut parts = raw.split(';');
    let media = lowercase(parts.next().unwrap_or("").trim_ascii());
    let params = parts
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (lowercase(k.trim_ascii()), v.trim_ascii().trim_matches('"')))
        .collect();
    (media, params)
}

fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

fn param<'a>(params: &'a [(Cow<'_, str>, &str)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

async fn post(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<EdgeState>,
    service: Arc<dyn SoapService>,
) -> HttpResponse {
    let (media, params) = content_type(&request);
    // Until the envelope is read, the Content-Type is the best hint of the version.
    let guessed = if media == SoapVersion::V12.media_type() {
        SoapVersion::V12
    } else {
        SoapVersion::V11
    };
    // What arrives before the body (query string, Authorization) is checked first, so a
    // request the service refuses anyway costs no buffering.
    let checked = match service.admit(&state, request.query_string()).await {
        Ok(()) => credentials_before_body(&request, &state, service.as_ref()).await,
        Err(error) => Err(error),
    };
    let verified = match checked {
        Ok(verified) => verified,
        Err(error) => {
            tracing::debug!(code = %error.code, message = %error.message, "soap request refused before its body");
            let mut response = fault_response(guessed, &error, state.sender_fault_status);
            // The body was never read: the connection cannot carry another request.
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            return response;
        }
    };
    let limits = state.body_limits();
    let bytes = match read_limited(&mut payload, declared_length(&request), limits).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let (code, message) = error.code_and_message();
            return fault_response(
                guessed,
                &SoapError::new(code, message),
                state.sender_fault_status,
            );
        }
    };
    let call = dispatch(
        &request,
        &bytes,
        (&media, &params),
        &state,
        service.as_ref(),
        verified,
    )
    .await;
    match call {
        Ok(Answered {
            version,
            body: Some(body),
            header,
        }) => HttpResponse::Ok()
            .content_type(version.content_type())
            .body(writer::envelope(version, header.as_deref(), &body)),
        Ok(Answered { body: None, .. }) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(state.one_way_status)
                .unwrap_or(actix_web::http::StatusCode::ACCEPTED),
        )
        .finish(),
        Err(error) => {
            let version = error.version.unwrap_or(guessed);
            tracing::debug!(code = %error.code, message = %error.message, "soap fault");
            fault_response(version, &error, state.sender_fault_status)
        }
    }
}

/// The account of the request's Basic credentials when the service wants them checked
/// before its body is read ([`HeaderCredentials`]); an `unauthenticated` fault otherwise.
async fn credentials_before_body(
    request: &HttpRequest,
    state: &EdgeState,
    service: &dyn SoapService,
) -> Result<Option<Principal>, SoapError> {
    let credentials = basic_credentials(request);
    let wanted = match service.header_credentials() {
        HeaderCredentials::Required => true,
        HeaderCredentials::WhenSent => credentials.is_some(),
        HeaderCredentials::Unused => false,
    };
    if !wanted {
        return Ok(None);
    }
    basic_principal(&state.accounts, credentials)
        .await
        .map(Some)
        .map_err(basic_fault)
}

/// A service's answer and what goes around it.
struct Answered {
    version: SoapVersion,
    /// `None` for a one-way operation.
    body: Option<String>,
    /// Header blocks of the answer (WS-Addressing's, when the request was addressed).
    header: Option<String>,
}

/// Parses and checks the request, then runs the service. Errors carry their version and,
/// once it is read, the request's WS-Addressing.
async fn dispatch(
    request: &HttpRequest,
    bytes: &[u8],
    (media, params): (&str, &[(Cow<'_, str>, &str)]),
    state: &EdgeState,
    service: &dyn SoapService,
    verified: Option<Principal>,
) -> Result<Answered, SoapError> {
    let text = decode::to_utf8(bytes, param(params, "charset"))?;
    let envelope = read_envelope(&text, &state.soap_limits)?;
    let version = envelope.version;
    let in_version = |error: SoapError| error.in_version(version);
    if media != version.media_type() {
        return Err(in_version(SoapError::new(
            ErrorCode::MalformedRequest,
            format!(
                "a SOAP {} envelope needs Content-Type {}, not `{}`",
                match version {
                    SoapVersion::V11 => "1.1",
                    SoapVersion::V12 => "1.2",
                },
                version.media_type(),
                if media.is_empty() { "none" } else { media }
            ),
        )));
    }
    let descriptor = service.descriptor();
    if !descriptor.supports(version) {
        return Err(SoapError::new(
            ErrorCode::VersionMismatch,
            format!("{} speaks SOAP 1.1 only", descriptor.name),
        )
        .in_version(SoapVersion::V11));
    }
    let addressing = addressing::read(&envelope)?;
    let in_version = |error: SoapError| {
        error
            .in_version(version)
            .with_addressing(addressing.as_ref())
    };
    envelope
        .check_must_understand(service.understood_headers())
        .map_err(in_version)?;
    let operation = descriptor
        .operation(envelope.body.namespace, envelope.body.name)
        .map_err(in_version)?;
    if let Some(addressing) = &addressing {
        addressing.check_action(operation.name, version)?;
    }
    let action = match version {
        SoapVersion::V11 => request
            .headers()
            .get("soapaction")
            .and_then(|value| value.to_str().ok()),
        SoapVersion::V12 => param(params, "action"),
    };
    descriptor
        .check_action(action, operation)
        .map_err(in_version)?;
    if let Some(observed) = request
        .extensions_mut()
        .get_mut::<super::observe::Observed>()
    {
        observed.operation = operation.name;
    }
    let call = SoapCall {
        operation,
        envelope: &envelope,
        state,
        credentials: basic_credentials(request),
        verified,
        peer: state.client_ip(request),
        host: service
            .needs_host()
            .then(|| request.connection_info().host().to_string()),
    };
    let answer = service.call(call).await.map_err(in_version)?;
    if answer.is_none() && !operation.one_way {
        return Err(in_version(SoapError::new(
            ErrorCode::Internal,
            "internal error",
        )));
    }
    let header = addressing.map(|addressing| {
        let action = addressing.response_action(descriptor.namespace, operation.name);
        addressing::reply_header(&addressing, &action)
    });
    Ok(Answered {
        version,
        body: answer,
        header,
    })
}

fn fault_response(
    version: SoapVersion,
    error: &SoapError,
    sender: SenderFaultStatus,
) -> HttpResponse {
    let status = error.http_status(version, sender);
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    response.content_type(version.content_type());
    if error.code == ErrorCode::Unauthenticated && !error.credentials_in_message {
        response.insert_header((
            header::WWW_AUTHENTICATE,
            "Basic realm=\"holdpoint\", charset=\"UTF-8\"",
        ));
    }
    if error.code.retry_later() {
        response.insert_header((
            header::RETRY_AFTER,
            super::errors::RETRY_AFTER_SECS.to_string(),
        ));
    }
    response.body(writer::fault(version, error))
}

fn get(request: HttpRequest, service: Arc<dyn SoapService>) -> HttpResponse {
    if !wants_wsdl(request.query_string()) {
        let error = SoapError::new(
            ErrorCode::MalformedRequest,
            format!(
                "send SOAP requests with POST; the WSDL is at {}?wsdl",
                request.path()
            ),
        );
        // SOAP 1.1, and the status replaced below: the Sender fault setting plays no part.
        let mut response = fault_response(SoapVersion::V11, &error, SenderFaultStatus::default());
        *response.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST, GET"));
        return response;
    }
    let info = request.connection_info();
    let address = format!("{}://{}{}", info.scheme(), info.host(), request.path());
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(service.descriptor().wsdl_for(&address))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::{content_type, param};

    #[test]
    fn content_type_names_are_lowercased_and_values_kept() {
        let request = TestRequest::default()
            .insert_header((
                "Content-Type",
                "Application/SOAP+XML; Charset=\"UTF-8\"; action=\"urn:x:Op\"; stray",
            ))
            .to_http_request();
        let (media, params) = content_type(&request);
        assert_eq!(media, "application/soap+xml");
        assert_eq!(param(&params, "charset"), Some("UTF-8"));
        assert_eq!(param(&params, "action"), Some("urn:x:Op"));
        assert_eq!(params.len(), 2, "a part without `=` is no parameter");

        let request = TestRequest::default()
            .insert_header(("Content-Type", "text/xml; charset=utf-8"))
            .to_http_request();
        let (media, params) = content_type(&request);
        assert_eq!(
            (media.as_ref(), param(&params, "charset")),
            ("text/xml", Some("utf-8"))
        );

        let bare = TestRequest::default().to_http_request();
        let (media, params) = content_type(&bare);
        assert_eq!((media.as_ref(), params.len()), ("", 0));
    }
}
