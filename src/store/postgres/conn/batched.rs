//! A command of a lane's batch ([`super::super::batch`]): its `SAVEPOINT` goes out with
//! its first statement, behind what the lane's previous command left unsent; its commit
//! leaves its own last writes and `RELEASE` unsent in turn ([`Unsent`]), and it answers
//! once the batch's `COMMIT` is through, or once those statements failed.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::Notify;

use super::{Deferred, Holder, PgConn};
use crate::store::StoreError;
use crate::store::group_commit::unanswered;
use crate::store::postgres::batch::{self, Turn};
use crate::store::postgres::pipeline::{self, Carried, Prepared, Sent, Unsent};

impl PgConn {
    /// Starts a command in the batch of the lane whose turn the caller holds: `BEGIN`
    /// (when it opens the batch) and its `SAVEPOINT` go out with its first statement.
    pub(in crate::store::postgres) async fn begin_batched(
        mut turn: Turn,
        pool: &Pool,
        work: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        turn.connect(pool).await?;
        let opens_batch = turn.opens_batch();
        let carried = turn.session_mut().unsent.take();
        let opening = if opens_batch {
            batch::OPEN_BATCH
        } else {
            batch::BEGIN_COMMAND
        };
        Ok(Self {
            holder: Holder::Batched {
                turn: Some(turn),
                savepoint_sent: false,
                opens_batch,
            },
            failed: false,
            pending: vec![Deferred::Control(opening)],
            carried,
            carrying: false,
            work,
        })
    }

    /// After the pipeline that carried `take_pending`'s statements: the previous command
    /// hears whether its own went through, and this one whether its did.
    pub(super) fn sent<T>(&mut self, sent: Sent<T>) -> Result<T, StoreError> {
        match sent.carried {
            Carried::Through => self.carrying = false,
            Carried::Failed(place, error) => {
                self.carrying = false;
                if let Holder::Batched {
                    turn: Some(turn), ..
                } = &mut self.holder
                {
                    turn.batch().fail_one(place, error.into());
                }
            }
            // Left set: dropped, the command fails the whole batch.
            Carried::Unknown => {}
        }
        self.failed |= sent.outcome.is_err();
        Ok(sent.outcome?)
    }

    /// A batched command's commit: its last writes and its `RELEASE`, prepared, are left
    /// to the lane's next holder. A command that carries the previous one's unsent
    /// statements (it sent nothing yet) sends everything itself instead: should the
    /// pipeline fail, it must know whose statements failed.
    pub(super) async fn release(&mut self, notify: bool) -> Result<(), StoreError> {
        let out = self.take_pending_unless_failed()?;
        let client = self.client()?;
        if out.carried.is_some() {
            let release = || client.batch_execute(batch::RELEASE_COMMAND);
            let sent = pipeline::after_unsent(client, out.carried, out.pending, release).await;
            let outcome = self.sent(sent);
            return self.released(notify, outcome, None).await;
        }
        let mut pending = out.pending;
        pending.push(Deferred::Control(batch::RELEASE_COMMAND));
        let prepared = pipeline::prepare(client, pending).await;
        let prepared = prepared.inspect_err(|_| self.failed = true)?;
        self.released(notify, Ok(()), Some(prepared)).await
    }

    /// After the pipeline that held a batched command's `RELEASE` (`unsent` is `None`),
    /// or with its last writes and `RELEASE` left to the lane's next holder: the command
    /// is in its batch, and answers once the batch's `COMMIT` is through, or once its
    /// unsent statements failed. Should the pipeline have failed, the command is still in
    /// its savepoint, rolled back to as it drops (or, when what it carried is unknown, the
    /// whole batch is).
    pub(super) async fn released<T>(
        &mut self,
        notify: bool,
        outcome: Result<T, StoreError>,
        unsent: Option<Vec<Prepared>>,
    ) -> Result<T, StoreError> {
        let output = outcome.inspect_err(|_| self.failed = true)?;
        let Holder::Batched { turn, .. } = &mut self.holder else {
            return Err(StoreError::Other("not a command of a batch".into()));
        };
        let mut turn = turn
            .take()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))?;
        let place = turn.batch().commands();
        let ack = turn.batch().ack(notify);
        if let Some(statements) = unsent {
            let unsent = Unsent {
                statements,
                ack: place,
            };
            turn.session_mut().unsent = Some(unsent);
        }
        drop(turn); // may commit the batch
        ack.await.map_err(|_| unanswered())??;
        Ok(output)
    }

    /// As the command drops before its commit: back to its savepoint, or the whole batch
    /// rolled back when that could undo another command, or nothing.
    pub(super) fn let_go_of_the_turn(&mut self) {
        let Holder::Batched {
            turn,
            savepoint_sent,
            ..
        } = &mut self.holder
        else {
            return;
        };
        match turn.take() {
            // Whether the previous command's unsent statements went through is unknown
            // (they are on the wire, or a statement of this one failed to prepare first):
            // rolling back to a savepoint could undo that command.
            Some(mut turn) if self.carrying => {
                turn.fail_batch(
                    "a command was dropped while its lane's previous one was unanswered",
                );
            }
            Some(turn) if *savepoint_sent => turn.undo_command(),
            // A statement failed before its savepoint went out (preparing one runs in the
            // batch's transaction): it may have aborted the whole batch.
            Some(mut turn) if self.failed => {
                turn.fail_batch("a statement failed outside its command's savepoint");
            }
            // Nothing of it reached the database, unless a statement was being prepared
            // as it dropped (should that have failed, the transaction is aborted and the
            // previous command's statements fail when sent: it hears an error, never a
            // false success). Those statements stay for the next holder.
            Some(mut turn) => turn.session_mut().unsent = self.carried.take(),
            None => {}
        }
    }
}
