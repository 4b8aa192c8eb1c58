//! Credentials before bodies (DESIGN §7, "facing the internet").
//!
//! Endpoints whose credentials travel in headers are wrapped with [`before_body`]: the
//! credentials are checked before the handler runs, so before any extractor starts reading
//! the body. A stranger's request is answered (401, in the route's own error shape) after
//! reading nothing but its head, with `Connection: close`, so a body that follows is never
//! buffered and the connection does not linger. Without this, a handler's extractors run
//! side by side: while a wrong password was being hashed, its body was already streaming
//! into memory.
//!
//! The check runs the route's own extractor (`E`) on an empty payload; the handler then
//! takes the result from the request's extensions ([`Prechecked`]) instead of checking
//! again. SOAP services, which read their bodies themselves, check in `http::soap`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage};

/// The outcome of a check [`before_body`] already made, for the handler's extractor.
pub struct Prechecked<E>(pub E);

/// Middleware (`from_fn(before_body::<E>)`): runs extractor `E` without the body, and
/// refuses the request at once when it fails.
pub async fn before_body<E>(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error>
where
    E: FromRequest + 'static,
    E::Error: Into<actix_web::Error>,
{
    let checked = E::from_request(request.request(), &mut Payload::None).await;
    match checked {
        Ok(value) => {
            request.extensions_mut().insert(Prechecked(value));
            Ok(next.call(request).await?.map_into_left_body())
        }
        Err(error) => {
            let error: actix_web::Error = error.into();
            let mut response = request.error_response(error);
            // The body was never read: the connection cannot carry another request.
            response
                .response_mut()
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            Ok(response.map_into_right_body())
        }
    }
}

/// Takes what [`before_body`] checked for this request, if it ran.
pub fn take_prechecked<E: 'static>(request: &actix_web::HttpRequest) -> Option<E> {
    request
        .extensions_mut()
        .remove::<Prechecked<E>>()
        .map(|Prechecked(value)| value)
}
