//! Capability callback URLs for server items (`callback_url = true` on a `server_event`
//! step): what Step Functions' task tokens and Logic Apps' callback URLs give, and K2
//! does not — an external system that cannot hold an account can still finish its step.
//!
//! The URL is `{[http] public_url}/callbacks/{token}`, the token `{instance}_{wait}.{tag}`
//! with a 128-bit HMAC tag under a key derived from the installation key for this purpose
//! alone: unguessable, bound to that one wait, the same on every node, and never equal to
//! the item's serial (whose shorter tag is a different MAC), so knowing a serial grants
//! nothing. Holding the URL is the authority ([`Access::Callback`]): it finishes or fails
//! that item while the wait is open, before its deadline, and while its step still gives
//! callback URLs in the current definition. Anything else — a tampered, closed, expired
//! or unknown token — is the same `unknown_serial`, so the answer does not say which.
//! Revoking one means cancelling the instance or finishing the item.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::{Map, Value};

use super::access::Access;
use super::definition::Workflows;
use super::serial::TaggedIds;
use super::{Caller, Engine, EngineError, FinishSummary, InstanceSummary, WaitView};
use crate::store::{InstanceRow, WaitKind, WaitRow, WaitState};

/// The dialect history records for calls through a callback URL.
pub const CALLBACK_DIALECT: &str = "callback_url";
/// The path callback URLs live under.
pub const CALLBACK_PATH: &str = "/callbacks";

/// Bytes of HMAC in a token: 128 bits, 22 characters of base64url.
const TAG_BYTES: usize = 16;

/// Makes and checks callback tokens: tagged ids with a longer tag than a serial's.
#[derive(Clone)]
pub(crate) struct CallbackTokens(TaggedIds);

impl CallbackTokens {
    pub fn new(key: Vec<u8>) -> Self {
        Self(TaggedIds::new(key, TAG_BYTES))
    }

    pub fn token(&self, instance_id: i64, wait_id: i64) -> String {
        self.0.format(instance_id, wait_id)
    }

    /// The (instance, wait) ids a token names, or `None` unless its tag is right.
    pub fn parse(&self, token: &str) -> Option<(i64, i64)> {
        self.0.parse(token)
    }
}

/// Refuses a set of workflows that hands out callback URLs on a node that has no public
/// address to build them from.
pub fn require_public_url(
    workflows: &Workflows,
    public_url: Option<&str>,
) -> Result<(), EngineError> {
    if public_url.is_some() {
        return Ok(());
    }
    for workflow in workflows.iter() {
        if let Some(step) = workflow.callback_url_step() {
            return Err(EngineError::MalformedRequest(format!(
                "workflow `{}` step `{step}` sets callback_url, which needs [http] public_url (the address callers reach this node at)",
                workflow.name
            )));
        }
    }
    Ok(())
}

impl Engine {
    /// The callback URL of an open server item when its step gives one (in the current
    /// definition of `workflow_id`) and the node has a public address.
    pub(crate) fn callback_url_of(&self, workflow_id: &str, wait: &WaitView) -> Option<String> {
        let public_url = self.config.public_url.as_deref()?;
        if wait.kind != WaitKind::ServerItem || wait.state != WaitState::Open {
            return None;
        }
        let workflows = self.workflows();
        let workflow = workflows.get(workflow_id)?;
        workflow
            .gives_callback_url(&wait.step)
            .then(|| self.callback_url(public_url, wait.instance_id, wait.id))
    }

    /// Fills in the callback URLs of listed waits, reading the workflow of each instance
    /// that has a server item (listings carry no workflow per wait).
    pub(crate) async fn add_callback_urls(
        &self,
        waits: &mut [WaitView],
    ) -> Result<(), EngineError> {
        if !self.gives_callback_urls() {
            return Ok(());
        }
        let mut workflow_of: HashMap<i64, Option<String>> = HashMap::new();
        let mut tx = self.store.begin().await?;
        for wait in waits.iter_mut() {
            if wait.kind != WaitKind::ServerItem || wait.state != WaitState::Open {
                continue;
            }
            let workflow_id = match workflow_of.entry(wait.instance_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => {
                    let instance = tx.get_instance(wait.instance_id).await?;
                    slot.insert(instance.map(|row| row.workflow_id))
                }
            };
            if let Some(workflow_id) = workflow_id.as_deref() {
                wait.callback_url = self.callback_url_of(workflow_id, wait);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) fn callback_url(&self, public_url: &str, instance_id: i64, wait_id: i64) -> String {
        format!(
            "{public_url}{CALLBACK_PATH}/{}",
            self.callbacks.token(instance_id, wait_id)
        )
    }

    /// Whether any loaded workflow gives callback URLs (listings skip the lookups if not).
    pub(crate) fn gives_callback_urls(&self) -> bool {
        self.config.public_url.is_some()
            && self
                .workflows()
                .iter()
                .any(|workflow| workflow.callback_url_step().is_some())
    }

    /// Whether `token` is one this installation made (its tag checks), before the store is
    /// asked anything: a stranger's guesses cost no more than an HMAC.
    pub fn callback_token_checks(&self, token: &str) -> bool {
        self.callbacks.parse(token).is_some()
    }

    /// Finishes the server item `token` names, as `POST /callbacks/{token}`.
    pub async fn finish_by_callback(
        &self,
        token: &str,
        fields: &Map<String, Value>,
        source: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<FinishSummary, EngineError> {
        let (serial, mut caller) = self.callback_caller(token, source)?;
        caller.message_id = idempotency_key.map(str::to_string);
        self.finish_server_item_summary(&serial, fields, &caller, idempotency_key)
            .await
            .map_err(hide_which)
    }

    /// Fails the server item `token` names, as `POST /callbacks/{token}/fail`.
    pub async fn fail_by_callback(
        &self,
        token: &str,
        message: &str,
        source: Option<String>,
    ) -> Result<InstanceSummary, EngineError> {
        let (serial, caller) = self.callback_caller(token, source)?;
        self.fail_server_item_summary(&serial, message, &caller)
            .await
            .map_err(hide_which)
    }

    /// The serial a token stands for and the caller holding it.
    fn callback_caller(
        &self,
        token: &str,
        source: Option<String>,
    ) -> Result<(String, Caller), EngineError> {
        let (instance_id, wait_id) = self.callbacks.parse(token).ok_or_else(unknown)?;
        let caller = Caller {
            name: CALLBACK_DIALECT.to_string(),
            dialect: CALLBACK_DIALECT.to_string(),
            source,
            message_id: None,
            access: Access::Callback {
                instance_id,
                wait_id,
            },
        };
        Ok((self.serials.format(instance_id, wait_id), caller))
    }

    /// For a callback caller, in place of the `server_event` permission: the token's wait,
    /// at a step that still gives callback URLs, before its deadline.
    pub(crate) fn check_callback(
        &self,
        caller: &Caller,
        instance: &InstanceRow,
        wait: &WaitRow,
        now: i64,
    ) -> Result<bool, EngineError> {
        let Access::Callback {
            instance_id,
            wait_id,
        } = caller.access
        else {
            return Ok(false);
        };
        let bound = instance.id == instance_id && wait.id == wait_id;
        let offered = self
            .workflows()
            .get(&instance.workflow_id)
            .is_some_and(|workflow| workflow.gives_callback_url(&wait.step_id));
        if bound && offered && wait.deadline > now {
            Ok(true)
        } else {
            Err(unknown())
        }
    }
}

fn unknown() -> EngineError {
    EngineError::UnknownSerial("callback".to_string())
}

/// A callback's refusals say nothing of the item: closed, expired, never existed or
/// tampered are one answer.
fn hide_which(error: EngineError) -> EngineError {
    match error {
        EngineError::UnknownSerial(_) | EngineError::ItemNotOpen(_) => unknown(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::CallbackTokens;

    fn tokens() -> CallbackTokens {
        CallbackTokens::new(b"derived for callbacks".to_vec())
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let token = tokens().token(5, 31);
        assert!(token.starts_with("5_31."));
        assert_eq!(token.len(), "5_31.".len() + 22);
        assert_eq!(tokens().parse(&token), Some((5, 31)));
        let moved = token.replacen("5_31", "5_32", 1);
        assert_eq!(tokens().parse(&moved), None);
        let other = CallbackTokens::new(b"another key".to_vec());
        assert_eq!(other.parse(&token), None);
        for bad in [
            "",
            "5_31",
            "5_31.",
            "5_31.AAAA",
            "x_1.AAAAAAAAAAAAAAAAAAAAAA",
            "0_1.A",
        ] {
            assert_eq!(tokens().parse(bad), None, "{bad}");
        }
    }
}
