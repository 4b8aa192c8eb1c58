//! `/admin`: server-rendered pages for admin accounts (DESIGN §7): what waits for what,
//! instances with their history, the inbound queue with a retry button for dead letters,
//! and the workflows. Works without JavaScript.
//!
//! Sign-in is a form that sets a signed session cookie ([`session`]); HTTP Basic
//! credentials of an admin work too (curl). Every POST carries a CSRF token bound to the
//! session and must not come from another origin; answers forbid framing. Non-admin
//! accounts are refused with 403. Everything shown goes through engine commands with the
//! admin as caller, so it is the same data the API shows.

mod lists;
mod map;
mod outlook;
mod pages;
pub mod session;
mod sign_in;
mod views;

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use maud::Markup;

use crate::auth::Principal;
use crate::engine::{Caller, Engine, EngineError};
use crate::http::EdgeState;
use crate::http::auth::{BasicFailure, basic_credentials, basic_principal};
use crate::http::soap::SoapService;
use lists::{inbound, instance, instances, retry, waits, workflow, workflows};
use pages::Frame;
use session::{COOKIE, SessionKeys};
use sign_in::{login, login_form, logout};

pub const DIALECT: &str = "admin";
/// Rows a list page shows at most.
const PAGE_ROWS: i64 = 200;

/// Mounts the pages; `sharepoint_receiver` is the mounted SharePoint receiver, if any,
/// and `webhook_paths` the list webhook receiver's paths, whose URLs the workflows page
/// lists.
pub fn configure(
    config: &mut web::ServiceConfig,
    sharepoint_receiver: Option<Arc<dyn SoapService>>,
    webhook_paths: Vec<String>,
) {
    config
        .app_data(web::Data::new(SharePointReceiver {
            service: sharepoint_receiver,
            webhook_paths,
        }))
        // Form posts carry their CSRF token (and the sign-in its password) in the body, so
        // the body is read before the check; a few KiB is all any admin form needs.
        .app_data(web::FormConfig::default().limit(MAX_FORM))
        // One scope: other requests are told apart from these by its prefix alone, not
        // tried against each route's pattern (a regex match per `{id}` route). The app
        // mounts it after the configured paths (see `app::create_app`).
        .service(
            web::scope("/admin")
                .route("", web::get().to(home))
                .route("/login", web::get().to(login_form))
                .route("/login", web::post().to(login))
                .route("/logout", web::post().to(logout))
                .route("/waits", web::get().to(waits))
                .route("/instances", web::get().to(instances))
                .route("/instances/{id}", web::get().to(instance))
                .route("/inbound", web::get().to(inbound))
                .route("/inbound/{id}/retry", web::post().to(retry))
                .route("/workflows", web::get().to(workflows))
                .route("/workflows/{id}", web::get().to(workflow)),
        );
}

/// The SharePoint receivers, for the URLs to register: the remote event receiver when
/// one is mounted, and the list webhook receiver's paths.
struct SharePointReceiver {
    service: Option<Arc<dyn SoapService>>,
    webhook_paths: Vec<String>,
}

/// Largest admin form body: a CSRF token, or a name and a password.
const MAX_FORM: usize = 4096;

fn keys(state: &EdgeState) -> SessionKeys {
    SessionKeys::new(state.engine.derive_key("admin-session"))
}

/// A signed-in admin.
struct Admin {
    principal: Principal,
    /// What its CSRF token is bound to: the session cookie, or `basic:{name}`.
    csrf_binding: String,
    source: Option<String>,
}

impl Admin {
    fn caller(&self) -> Caller {
        self.principal.caller(DIALECT, self.source.clone())
    }
}

/// A page request by a signed-in admin, as an extractor: who, the CSRF token its forms
/// carry, and the edge. Anyone else is answered at once with the page [`admin`] decides
/// (sent to sign in, or refused), before the handler runs.
struct AdminView {
    admin: Admin,
    csrf: String,
    state: web::Data<EdgeState>,
}

impl AdminView {
    fn caller(&self) -> Caller {
        self.admin.caller()
    }

    fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// The page frame with `active` as the current tab.
    fn frame<'a>(&'a self, active: &'a str) -> Frame<'a> {
        Frame {
            user: &self.admin.principal.name,
            csrf: &self.csrf,
            active,
            now_ms: self.state.engine.now_ms(),
        }
    }
}

impl FromRequest for AdminView {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = request
                .app_data::<web::Data<EdgeState>>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("edge state missing"))?;
            let admin = admin(&request, &state)
                .await
                .map_err(|page| InternalError::from_response("not a signed-in admin", page))?;
            let csrf = keys(&state).csrf(&admin.csrf_binding);
            Ok(Self { admin, csrf, state })
        })
    }
}

fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(markup.into_string())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn failure(error: EngineError) -> HttpResponse {
    error.log_detail();
    let status = StatusCode::from_u16(error.code().http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    html(
        status,
        pages::message("Something went wrong", &error.to_string()),
    )
}

/// The admin behind a request, or the answer that sends it to sign in (or refuses it).
async fn admin(request: &HttpRequest, state: &EdgeState) -> Result<Admin, HttpResponse> {
    let source = state.client_ip(request).map(|ip| ip.to_string());
    if let Some(cookie) = request.cookie(COOKIE)
        && let Some(name) = keys(state).verify(cookie.value(), state.engine.now_ms())
    {
        match state.accounts.principal(&name).await {
            Ok(Some(principal)) if principal.admin => {
                return Ok(Admin {
                    principal,
                    csrf_binding: cookie.value().to_string(),
                    source,
                });
            }
            // Removed or no longer an admin: the session is over.
            Ok(_) => return Err(see_other("/admin/login")),
            Err(error) => return Err(failure(error)),
        }
    }
    let credentials = basic_credentials(request);
    if credentials.is_none() {
        return Err(see_other("/admin/login"));
    }
    match basic_principal(&state.accounts, credentials).await {
        Ok(principal) if principal.admin => Ok(Admin {
            csrf_binding: format!("basic:{}", principal.name),
            principal,
            source,
        }),
        Ok(principal) => Err(html(
            StatusCode::FORBIDDEN,
            pages::message(
                "Admins only",
                &format!("account `{}` is not an admin", principal.name),
            ),
        )),
        Err(BasicFailure::Rejected(why)) => {
            let mut response = html(StatusCode::UNAUTHORIZED, pages::message("Sign in", why));
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"holdpoint\", charset=\"UTF-8\""),
            );
            Err(response)
        }
        Err(BasicFailure::Store(error)) => Err(failure(error)),
    }
}

/// Whether a POST carries the admin's token and comes from this site.
fn post_is_genuine(request: &HttpRequest, state: &EdgeState, admin: &Admin, token: &str) -> bool {
    let info = request.connection_info();
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| origin != format!("{}://{}", info.scheme(), info.host()));
    !foreign && keys(state).csrf_matches(&admin.csrf_binding, token)
}

/// The admin behind a form POST whose CSRF token and origin check out.
async fn admin_posting(
    request: &HttpRequest,
    state: &EdgeState,
    token: &str,
) -> Result<Admin, HttpResponse> {
    let admin = admin(request, state).await?;
    if post_is_genuine(request, state, &admin, token) {
        Ok(admin)
    } else {
        Err(refused())
    }
}

fn refused() -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        pages::message(
            "Refused",
            "this form is stale or came from another site; reload the page and try again",
        ),
    )
}

async fn home() -> HttpResponse {
    see_other("/admin/waits")
}
