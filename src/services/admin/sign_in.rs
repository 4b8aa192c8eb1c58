//! Signing in and out of the admin pages: a form that sets the signed session cookie
//! ([`super::session`]), and a CSRF-checked POST that removes it.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::session::{self, COOKIE};
use super::{admin_posting, failure, html, keys, pages};
use crate::http::EdgeState;

pub(super) async fn login_form() -> HttpResponse {
    html(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    user: String,
    password: String,
}

pub(super) async fn login(
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
pub(super) struct TokenForm {
    pub(super) csrf: String,
}

pub(super) async fn logout(
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
