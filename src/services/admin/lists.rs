//! The admin's list and detail pages: waits, instances (with one instance's history), the
//! inbound queue with its retry button, and the workflows with the SharePoint receiver's
//! URLs. Filters come from the query string; a filter that does not parse is a 400 page.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::Markup;

use super::sign_in::TokenForm;
use super::{
    AdminView, PAGE_ROWS, SharePointReceiver, admin_posting, failure, html, outlook, pages,
    see_other, views,
};
use crate::engine::{EngineError, HistoryView};
use crate::http::EdgeState;
use crate::store::{
    InboundFilter, InboundState, InstanceFilter, InstanceStatus, ListScope, WaitFilter, WaitKind,
    WaitState,
};

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

/// The page `render` makes of what the engine answered, or the page saying what failed.
fn page_of<T>(answer: Result<T, EngineError>, render: impl FnOnce(T) -> Markup) -> HttpResponse {
    match answer {
        Ok(value) => html(StatusCode::OK, render(value)),
        Err(error) => failure(error),
    }
}

fn bad_filter(why: String) -> HttpResponse {
    html(StatusCode::BAD_REQUEST, pages::message("Bad filter", &why))
}

/// The workflow filter of a list: a name or GUID as typed, the GUID when it is known.
fn workflow_filter(state: &EdgeState, typed: &str) -> Option<String> {
    (!typed.is_empty()).then(|| {
        state
            .engine
            .workflows()
            .get(typed)
            .map_or_else(|| typed.to_string(), |workflow| workflow.id.clone())
    })
}

fn workflow_name(state: &EdgeState, id: &str) -> String {
    state
        .engine
        .workflows()
        .get(id)
        .map_or_else(|| id.to_string(), |workflow| workflow.name.clone())
}

pub(super) async fn waits(view: AdminView, query: Query) -> HttpResponse {
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
    let workflow_id = workflow_filter(&view.state, workflow);
    let step = param(&query, "step");
    let filter = WaitFilter {
        scope: ListScope::new(workflow_id.clone(), PAGE_ROWS),
        kind,
        state: wait_state,
        event_name: Some(param(&query, "event").to_string()).filter(|e| !e.is_empty()),
        step_id: Some(step.to_string()).filter(|s| !s.is_empty()),
        ..WaitFilter::default()
    };
    let caller = view.caller();
    let due = view
        .engine()
        .deadline_outlook(workflow_id.as_deref(), outlook::HOURS, &caller)
        .await;
    let due = match due {
        Ok(due) => due,
        Err(error) => return failure(error),
    };
    let scope = match &workflow_id {
        Some(id) => workflow_name(&view.state, id),
        None => "all workflows".into(),
    };
    let listed = view.engine().list_waits(&filter, &caller).await;
    let filters = pages::WaitFilters {
        workflow,
        step,
        kind: param(&query, "kind"),
        event: param(&query, "event"),
        state: param(&query, "state"),
    };
    page_of(listed, |list| {
        let chart = outlook::outlook(&due, &scope);
        pages::waits(&view.frame("waits"), &list, &filters, chart)
    })
}

pub(super) async fn instances(view: AdminView, query: Query) -> HttpResponse {
    let status = match choice(&query, "status", InstanceStatus::parse) {
        Ok(status) => status,
        Err(why) => return bad_filter(why),
    };
    let workflow = param(&query, "workflow");
    let step = param(&query, "step");
    let filter = InstanceFilter {
        scope: ListScope::new(workflow_filter(&view.state, workflow), PAGE_ROWS),
        status,
        step_id: Some(step.to_string()).filter(|s| !s.is_empty()),
    };
    let listed = view.engine().list_instances(&filter, &view.caller()).await;
    let names = |id: &str| workflow_name(&view.state, id);
    page_of(listed, |list| {
        let status = param(&query, "status");
        let filters = [workflow, step, status];
        pages::instances(&view.frame("instances"), &list, filters, &names)
    })
}

pub(super) async fn instance(view: AdminView, path: web::Path<String>) -> HttpResponse {
    let Ok(id) = path.parse::<i64>() else {
        return failure(EngineError::MalformedRequest(format!(
            "`{path}` is not an instance id"
        )));
    };
    let caller = view.caller();
    let shown = match view.engine().get(id, &caller).await {
        Ok(shown) => shown,
        Err(error) => return failure(error),
    };
    let history = match view.engine().history(id, &caller).await {
        Ok(rows) => rows.into_iter().map(HistoryView::from).collect::<Vec<_>>(),
        Err(error) => return failure(error),
    };
    // The map is of the version the instance runs on, which may not be the newest.
    let definition = match view.engine().version(&shown.version).await {
        Ok(definition) => definition,
        Err(error) => return failure(error),
    };
    let name = workflow_name(&view.state, &shown.workflow_id);
    let frame = view.frame("instances");
    let page = views::instance(&frame, &shown, &name, definition.as_deref(), &history);
    html(StatusCode::OK, page)
}

/// One workflow: its map with the live counts of each step (one aggregate query).
pub(super) async fn workflow(view: AdminView, path: web::Path<String>) -> HttpResponse {
    let Some(workflow) = view.engine().workflows().get(&path).cloned() else {
        let why = format!("no workflow `{path}` is loaded");
        return html(
            StatusCode::NOT_FOUND,
            pages::message("Unknown workflow", &why),
        );
    };
    let counts = view
        .engine()
        .step_counts(&workflow.id, &view.caller())
        .await;
    page_of(counts, |counts| {
        views::workflow(&view.frame("workflows"), &workflow, &counts)
    })
}

pub(super) async fn inbound(view: AdminView, query: Query) -> HttpResponse {
    let queue_state = match choice(&query, "state", InboundState::parse) {
        Ok(queue_state) => queue_state,
        Err(why) => return bad_filter(why),
    };
    let filter = InboundFilter {
        scope: ListScope::new(None, PAGE_ROWS),
        state: queue_state,
    };
    let flash = param(&query, "retried")
        .parse::<i64>()
        .ok()
        .map(|id| format!("Event {id} is queued again; a runner delivers it shortly."));
    let listed = view.engine().list_inbound(&filter, &view.caller()).await;
    let names = |id: &str| workflow_name(&view.state, id);
    page_of(listed, |rows| {
        let state = param(&query, "state");
        pages::inbound(
            &view.frame("inbound"),
            &rows,
            state,
            flash.as_deref(),
            &names,
        )
    })
}

pub(super) async fn retry(
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

pub(super) async fn workflows(
    view: AdminView,
    request: HttpRequest,
    receiver: web::Data<SharePointReceiver>,
) -> HttpResponse {
    let base = base_url(&request);
    let webhook_urls: Vec<String> = receiver
        .webhook_paths
        .iter()
        .map(|path| format!("{base}{path}"))
        .collect();
    let receiver_urls = match sharepoint_receiver_urls(&request, &view.state, &receiver).await {
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
    html(
        StatusCode::OK,
        pages::workflows(
            &view.frame("workflows"),
            view.engine().workflows().iter().map(|w| w.as_ref()),
            &receiver_urls,
            &webhook_urls,
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
    let Some(service) = &receiver.service else {
        return Ok(Vec::new());
    };
    let base = base_url(request);
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

/// The scheme and host this page was reached at.
fn base_url(request: &HttpRequest) -> String {
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}
