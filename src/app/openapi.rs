//! The OpenAPI document at `/api/v1/openapi.json`, assembled here from the parts each
//! service documents (the native API, the K2 REST routes) and the health routes, so that
//! no service has to know another's handlers. It is generated from the handlers'
//! annotations, so it cannot drift from the code; the document itself is public.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use super::health::HealthDoc;
use crate::services::api::ApiDoc;
use crate::services::callbacks::CallbackDoc;
use crate::services::server_items::K2Doc;

/// Mounted before the `/api/v1` scope, whose credentials check would otherwise claim it.
pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/api/v1/openapi.json", web::get().to(openapi_json));
}

#[derive(OpenApi)]
#[openapi(paths(openapi_json))]
struct MetaDoc;

/// The whole document: the native API's (its title and security scheme) with the rest
/// merged in.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
        .merge_from(HealthDoc::openapi())
        .merge_from(MetaDoc::openapi())
        .merge_from(K2Doc::openapi())
        .merge_from(CallbackDoc::openapi())
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
