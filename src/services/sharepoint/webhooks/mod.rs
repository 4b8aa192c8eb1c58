//! SharePoint list webhooks: SharePoint Online's successor to remote event receivers, a
//! plain HTTP receiver at `[sharepoint] webhook_paths` (default `/sharepoint/webhooks`),
//! the `notificationUrl` of a list subscription.
//!
//! - **Handshake.** A request with a `validationtoken` query parameter is a subscription
//!   being made: it is answered at once (SharePoint waits 5 s) `200 text/plain` with the
//!   token, URL-decoded, as the whole body. Nothing is read from or written to the store.
//!   A token over [`notification::MAX_VALIDATION_TOKEN`] bytes, empty, or with control
//!   characters is refused `400`.
//! - **Notifications.** A JSON batch `{"value": [...]}`, read within the edge's body
//!   limits. Each notification goes to the `sharepoint_webhook` triggers watching its
//!   list ([`triggers`]) whose `client_state` is the notification's `clientState`: one
//!   inbound event per such trigger, all in one transaction, answered `202` after the
//!   commit; the inbound queue delivers them ([`crate::engine::inbound`]).
//! - **Refusals.** A notification for a watched list whose `clientState` no watching
//!   trigger has refuses the whole batch `403`, nothing queued: a batch is one request,
//!   and half of a forged or misconfigured one must not run. A notification for a list no
//!   trigger watches is acknowledged and dropped (logged, counted): SharePoint retries
//!   anything but 2xx and at last drops the subscription, which helps nobody.
//! - **Redeliveries.** A notification only says "list X changed"; its content repeats for
//!   every change. An identical notification (same subscription, same members) is queued
//!   once while the first still waits undelivered in the queue, and queued anew once that
//!   delivery has begun, so that a change is never swallowed
//!   ([`crate::engine::inbound::InboundRequest::coalesce_key`]).
//!
//! `[sharepoint] auth` is for the remote event receiver; here the client state is the
//! credential.

pub mod notification;
pub mod triggers;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::triggers::TriggerCache;
use crate::engine::Engine;
use crate::engine::inbound::{InboundPayload, InboundRequest};
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::body::{declared_length, read_limited};
use crate::http::errors::{ApiError, refused_before_body};
use notification::Notification;
use triggers::WebhookTrigger;

/// The dialect recorded in history, and the kind of the queued events.
pub const DIALECT: &str = "sharepoint_webhook";

/// The receiver's own state: the triggers of the current definitions.
struct Receiver {
    triggers: TriggerCache<WebhookTrigger>,
}

/// Mounts the receiver at each of `paths`.
pub fn configure(config: &mut web::ServiceConfig, paths: &[String]) {
    let receiver = web::Data::new(Receiver {
        triggers: TriggerCache::new(triggers::collect),
    });
    for path in paths {
        config.service(
            web::resource(path.as_str())
                .app_data(receiver.clone())
                .route(web::post().to(receive)),
        );
    }
}

async fn receive(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<EdgeState>,
    receiver: web::Data<Receiver>,
) -> Result<HttpResponse, ApiError> {
    let token = match notification::validation_token(request.query_string()) {
        Ok(token) => token,
        Err(why) => return Ok(refused_before_body(&ApiError::malformed(why))),
    };
    if let Some(token) = token {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(token));
    }
    let body = read_limited(&mut payload, declared_length(&request), state.body_limits()).await?;
    let batch = notification::parse(&body).map_err(ApiError::malformed)?;
    let requests = receiver.requests(&state.engine, &batch)?;
    if requests.is_empty() {
        return Ok(HttpResponse::Accepted().json(json!({"event_ids": []})));
    }
    let ids = state.engine.enqueue_remote_events(&requests).await?;
    tracing::info!(
        ?ids,
        notifications = batch.len(),
        "SharePoint webhook notifications queued"
    );
    Ok(HttpResponse::Accepted().json(json!({"event_ids": ids})))
}

impl Receiver {
    /// The events to queue for a batch, or the refusal of the whole batch.
    fn requests(
        &self,
        engine: &Engine,
        batch: &[Notification],
    ) -> Result<Vec<InboundRequest>, ApiError> {
        let triggers = self.triggers.of(engine.workflows());
        let mut requests = Vec::new();
        for notification in batch {
            let watching: Vec<&WebhookTrigger> = triggers
                .iter()
                .filter(|t| t.watches(&notification.resource))
                .collect();
            if watching.is_empty() {
                tracing::info!(resource = %notification.resource, subscription = %notification.subscription_id, "no trigger watches the list of a SharePoint webhook notification");
                crate::metrics::sharepoint_unmatched();
                continue;
            }
            let admitted: Vec<&&WebhookTrigger> = watching
                .iter()
                .filter(|t| t.admits(notification.client_state.as_deref()))
                .collect();
            if admitted.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!(
                        "the clientState of the notification for list {} (subscription {}) is not the client_state of a workflow watching that list; nothing was queued",
                        notification.resource, notification.subscription_id
                    ),
                ));
            }
            let event = notification.event();
            let key = notification.content_key();
            // Per trigger: two triggers of one workflow that admit the same notification
            // are two events, not one coalesced into the other.
            requests.extend(admitted.into_iter().enumerate().map(|(index, trigger)| {
                InboundRequest {
                    workflow: trigger.workflow.clone(),
                    kind: DIALECT.to_string(),
                    payload: InboundPayload {
                        action: trigger.action.queued(),
                        event: event.clone(),
                        sender: "sharepoint".to_string(),
                    },
                    idempotency_key: None,
                    coalesce_key: Some(format!("{key}:{index}")),
                }
            }));
        }
        Ok(requests)
    }
}
