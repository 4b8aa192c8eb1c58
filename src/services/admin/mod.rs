//! `/admin`: server-rendered pages for admin accounts (DESIGN §7): what waits for what,
//! instances with their history, the inbound queue with a retry button for dead letters,
//! and the workflows. Works without JavaScript.
//!
//! Sign-in is a form that sets a signed session cookie ([`session`]); HTTP Basic
//! credentials of an admin work too (curl). Every POST carries a CSRF token bound to the
//! session and must not come from another origin; answers forbid framing. Non-admin
//! accounts are refused with 403. Everything shown goes through engine commands with the
//! admin as caller, so it is the same data the API shows.

mod pages;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::Markup;
use serde::Deserialize;

use crate::auth::Principal;
use crate::engine::{Caller, EngineError};
use crate::http::EdgeState;
use crate::http::auth::{BasicFailure, basic_credentials, basic_principal};
use crate::http::soap::SoapService;
use crate::store::{
    InboundFilter, InboundState, InstanceFilter, InstanceStatus, WaitFilter, WaitKind, WaitState,
};
use pages::Frame;
use session::{COOKIE, SessionKeys};

pub const DIALECT: &str = "admin";
/// Rows a list page shows at most.
const PAGE_ROWS: i64 = 200;

/// Mounts the pages; `soap_services` are the mounted SOAP services, of which the
/// workflows page lists the SharePoint receiver's URLs.
pub fn configure(config: &mut web::ServiceConfig, soap_services: &[Arc<dyn SoapService>]) {
    let receiver = soap_services
        .iter()
        .find(|service| {
            service.descriptor().dialect == crate::services::sharepoint::service::DIALECT
        })
        .cloned();
    config
        .app_data(web::Data::new(SharePointReceiver(receiver)))
        // Form posts carry their CSRF token (and the sign-in its password) in the body, so
        // the body is read before the check; a few KiB is all any admin form needs.
        .app_data(web::FormConfig::default().limit(MAX_FORM))
        .route("/admin", web::get().to(home))
        .route("/admin/login", web::get().to(login_form))
        .route("/admin/login", web::post().to(login))
        .route("/admin/logout", web::post().to(logout))
        .route("/admin/waits", web::get().to(waits))
        .route("/admin/instances", web::get().to(instances))
        .route("/admin/instances/{id}", web::get().to(instance))
        .route("/admin/inbound", web::get().to(inbound))
        .route("/admin/inbound/{id}/retry", web::post().to(retry))
        .route("/admin/workflows", web::get().to(workflows));
}

/// The SharePoint receiver, when one is mounted, for the URLs to register.
struct SharePointReceiver(Option<Arc<dyn SoapService>>);

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

    fn frame<'a>(&'a self, csrf: &'a str, active: &'a str, state: &EdgeState) -> Frame<'a> {
        Frame {
            user: &self.principal.name,
            csrf,
            active,
            now_ms: state.engine.now_ms(),
        }
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

async fn login_form() -> HttpResponse {
    html(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let principal = match state
        .accounts
        .authenticate(form.user.trim(), &form.password)
        .await
    {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            return html(
                StatusCode::UNAUTHORIZED,
                pages::login(Some("wrong account name or password")),
            );
        }
        Err(error) => return failure(error),
    };
    if !principal.admin {
        return html(
            StatusCode::FORBIDDEN,
            pages::login(Some("only admin accounts may sign in here")),
        );
    }
    let value = keys(&state).issue(&principal.name, state.engine.now_ms());
    let cookie = Cookie::build(COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(request.connection_info().scheme() == "https")
        .max_age(actix_web::cookie::time::Duration::seconds(
            session::SESSION_TTL.as_secs() as i64,
        ))
        .finish();
    tracing::info!(account = %principal.name, "admin signed in");
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/waits"))
        .cookie(cookie)
        .finish()
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
}

async fn logout(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    if let Err(response) = admin_posting(&request, &state, &form.csrf).await {
        return response;
    }
    let mut gone = Cookie::build(COOKIE, "").path("/admin").finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/login"))
        .cookie(gone)
        .finish()
}

type Query = web::Query<HashMap<String, String>>;

fn param<'a>(query: &'a Query, name: &str) -> &'a str {
    query.get(name).map(|v| v.trim()).unwrap_or("")
}

/// A select's value: empty is "any"; anything else must parse.
fn choice<T>(query: &Query, name: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, String> {
    match param(query, name) {
        "" => Ok(None),
        text => parse(text)
            .map(Some)
            .ok_or_else(|| format!("`{text}` is not a valid {name}")),
    }
}

fn bad_filter(why: String) -> HttpResponse {
    html(StatusCode::BAD_REQUEST, pages::message("Bad filter", &why))
}

fn workflow_name(state: &EdgeState, id: &str) -> String {
    state
        .engine
        .workflows()
        .get(id)
        .map_or_else(|| id.to_string(), |workflow| workflow.name.clone())
}

async fn waits(request: HttpRequest, state: web::Data<EdgeState>, query: Query) -> HttpResponse {
    let admin = match admin(&request, &state).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    // Open waits by default; `all` is every state.
    let wait_state = match param(&query, "state") {
        "" => Ok(Some(WaitState::Open)),
        "all" => Ok(None),
        _ => choice(&query, "state", WaitState::parse),
    };
    let (kind, wait_state) = match (choice(&query, "kind", WaitKind::parse), wait_state) {
        (Ok(kind), Ok(wait_state)) => (kind, wait_state),
        (Err(why), _) | (_, Err(why)) => return bad_filter(why),
    };
    let workflow = param(&query, "workflow");
    let filter = WaitFilter {
        workflow_id: (!workflow.is_empty()).then(|| {
            state
                .engine
                .workflows()
                .get(workflow)
                .map_or_else(|| workflow.to_string(), |w| w.id.clone())
        }),
        kind,
        state: wait_state,
        event_name: Some(param(&query, "event").to_string()).filter(|e| !e.is_empty()),
        limit: PAGE_ROWS,
        ..WaitFilter::default()
    };
    match state.engine.list_waits(&filter, &admin.caller()).await {
        Ok(list) => {
            let csrf = keys(&state).csrf(&admin.csrf_binding);
            let filters = pages::WaitFilters {
                workflow,
                kind: param(&query, "kind"),
                event: param(&query, "event"),
                state: param(&query, "state"),
            };
            html(
                StatusCode::OK,
                pages::waits(&admin.frame(&csrf, "waits", &state), &list, &filters),
            )
        }
        Err(error) => failure(error),
    }
}

async fn instances(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    query: Query,
) -> HttpResponse {
    let admin = match admin(&request, &state).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let status = match choice(&query, "status", InstanceStatus::parse) {
        Ok(status) => status,
        Err(why) => return bad_filter(why),
    };
    let workflow = param(&query, "workflow");
    let filter = InstanceFilter {
        workflow_id: (!workflow.is_empty()).then(|| {
            state
                .engine
                .workflows()
                .get(workflow)
                .map_or_else(|| workflow.to_string(), |w| w.id.clone())
        }),
        status,
        limit: PAGE_ROWS,
        ..InstanceFilter::default()
    };
    match state.engine.list_instances(&filter, &admin.caller()).await {
        Ok(list) => {
            let csrf = keys(&state).csrf(&admin.csrf_binding);
            let names = |id: &str| workflow_name(&state, id);
            let frame = admin.frame(&csrf, "instances", &state);
            html(
                StatusCode::OK,
                pages::instances(&frame, &list, workflow, param(&query, "status"), &names),
            )
        }
        Err(error) => failure(error),
    }
}

async fn instance(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    path: web::Path<String>,
) -> HttpResponse {
    let admin = match admin(&request, &state).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let Ok(id) = path.parse::<i64>() else {
        return failure(EngineError::MalformedRequest(format!(
            "`{path}` is not an instance id"
        )));
    };
    let caller = admin.caller();
    let view = match state.engine.get(id, &caller).await {
        Ok(view) => view,
        Err(error) => return failure(error),
    };
    let history = match state.engine.history(id, &caller).await {
        Ok(rows) => rows
            .into_iter()
            .map(crate::engine::HistoryView::from)
            .collect::<Vec<_>>(),
        Err(error) => return failure(error),
    };
    let csrf = keys(&state).csrf(&admin.csrf_binding);
    let name = workflow_name(&state, &view.workflow_id);
    html(
        StatusCode::OK,
        pages::instance(
            &admin.frame(&csrf, "instances", &state),
            &view,
            &name,
            &history,
        ),
    )
}

async fn inbound(request: HttpRequest, state: web::Data<EdgeState>, query: Query) -> HttpResponse {
    let admin = match admin(&request, &state).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let queue_state = match choice(&query, "state", InboundState::parse) {
        Ok(queue_state) => queue_state,
        Err(why) => return bad_filter(why),
    };
    let filter = InboundFilter {
        state: queue_state,
        limit: PAGE_ROWS,
        ..InboundFilter::default()
    };
    let flash = param(&query, "retried")
        .parse::<i64>()
        .ok()
        .map(|id| format!("Event {id} is queued again; a runner delivers it shortly."));
    match state.engine.list_inbound(&filter, &admin.caller()).await {
        Ok(rows) => {
            let csrf = keys(&state).csrf(&admin.csrf_binding);
            let names = |id: &str| workflow_name(&state, id);
            let frame = admin.frame(&csrf, "inbound", &state);
            html(
                StatusCode::OK,
                pages::inbound(
                    &frame,
                    &rows,
                    param(&query, "state"),
                    flash.as_deref(),
                    &names,
                ),
            )
        }
        Err(error) => failure(error),
    }
}

async fn retry(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    path: web::Path<String>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let admin = match admin_posting(&request, &state, &form.csrf).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let Ok(id) = path.parse::<i64>() else {
        return failure(EngineError::MalformedRequest(format!(
            "`{path}` is not an event id"
        )));
    };
    match state.engine.retry_inbound(id, &admin.caller()).await {
        Ok(_) => {
            tracing::info!(id, account = %admin.principal.name, "dead letter retried from the admin page");
            see_other(&format!("/admin/inbound?retried={id}"))
        }
        Err(error) => failure(error),
    }
}

async fn workflows(
    request: HttpRequest,
    state: web::Data<EdgeState>,
    receiver: web::Data<SharePointReceiver>,
) -> HttpResponse {
    let admin = match admin(&request, &state).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let receiver_urls = match sharepoint_receiver_urls(&request, &state, &receiver).await {
        Ok(urls) => urls,
        Err(error) => {
            let status = StatusCode::from_u16(error.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return html(
                status,
                pages::message("Something went wrong", &error.message),
            );
        }
    };
    let csrf = keys(&state).csrf(&admin.csrf_binding);
    let frame = admin.frame(&csrf, "workflows", &state);
    html(
        StatusCode::OK,
        pages::workflows(
            &frame,
            state.engine.workflows().iter().map(|w| w.as_ref()),
            &receiver_urls,
        ),
    )
}

/// The URLs to register in SharePoint for workflows with SharePoint triggers, at the
/// address this page was reached at: each receiver path, with its key when one is needed.
async fn sharepoint_receiver_urls(
    request: &HttpRequest,
    state: &EdgeState,
    receiver: &SharePointReceiver,
) -> Result<Vec<String>, crate::soap::SoapError> {
    let Some(service) = &receiver.0 else {
        return Ok(Vec::new());
    };
    let base = {
        let info = request.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let query = service
        .registration_query(state)
        .await?
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    Ok(service
        .descriptor()
        .paths
        .iter()
        .map(|path| format!("{base}{path}{query}"))
        .collect())
}
