//! One budget per node for buffered request bodies (`[http] max_buffered`, DESIGN §7).
//!
//! Every body the node holds in memory — JSON, SOAP envelopes, remote events — is read
//! through [`super::body::read_limited`], which reserves its bytes here before it keeps
//! them: up front for a declared `Content-Length`, in steps as a stream grows. The
//! reservation lives as long as the bytes (it travels with them in [`super::body::Buffered`])
//! and is given back when they are dropped. A body that does not fit waits at most
//! [`BUDGET_WAIT`] for others to finish, then is refused with `overloaded` (503 with
//! `Retry-After`): nothing was applied, nothing acknowledged, and the node's memory for
//! bodies never exceeds the budget whatever strangers send.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a body waits for room before it is refused: long enough to ride out a burst
/// of large uploads finishing, short enough that a client is not left hanging.
pub const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// Reservations are taken in steps of at least this many bytes, so that a streamed body
/// costs a handful of semaphore operations, not one per network chunk.
const STEP: usize = 64 * 1024;

#[derive(Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// Bytes reserved for one body; given back when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

/// The budget had no room within [`BUDGET_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub total: usize,
}

impl BodyBudget {
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes not reserved right now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Makes `reservation` cover at least `needed` bytes (never more than `cap`), waiting
    /// at most [`BUDGET_WAIT`] for room.
    pub async fn cover(
        &self,
        reservation: &mut Reservation,
        needed: usize,
        cap: usize,
    ) -> Result<(), Exhausted> {
        if needed <= reservation.bytes {
            return Ok(());
        }
        let target = needed.max(reservation.bytes + STEP).min(cap.max(needed));
        let more = target - reservation.bytes;
        let exhausted = Exhausted { total: self.total };
        let count = u32::try_from(more).map_err(|_| exhausted)?;
        if more > self.total {
            return Err(exhausted);
        }
        let permit = match self.bytes.clone().try_acquire_many_owned(count) {
            Ok(permit) => permit,
            Err(_) => {
                tokio::time::timeout(BUDGET_WAIT, self.bytes.clone().acquire_many_owned(count))
                    .await
                    .map_err(|_| exhausted)?
                    .map_err(|_| exhausted)?
            }
        };
        match &mut reservation.permit {
            Some(held) => held.merge(permit),
            None => reservation.permit = Some(permit),
        }
        reservation.bytes = target;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{BodyBudget, Reservation};

    #[tokio::test]
    async fn reservations_are_bounded_and_given_back() {
        let budget = BodyBudget::new(200 * 1024);
        let mut first = Reservation::default();
        budget.cover(&mut first, 10, 150 * 1024).await.unwrap();
        assert_eq!(
            budget.available(),
            200 * 1024 - 64 * 1024,
            "a step at least"
        );
        budget
            .cover(&mut first, 150 * 1024, 150 * 1024)
            .await
            .unwrap();
        assert_eq!(budget.available(), 50 * 1024);
        let mut second = Reservation::default();
        assert!(
            budget
                .cover(&mut second, 100 * 1024, 100 * 1024)
                .await
                .is_err(),
            "no room within the wait"
        );
        drop(first);
        assert_eq!(budget.available(), 200 * 1024, "given back on drop");
        budget
            .cover(&mut second, 100 * 1024, 100 * 1024)
            .await
            .unwrap();
        let mut huge = Reservation::default();
        assert!(
            budget
                .cover(&mut huge, 300 * 1024, 300 * 1024)
                .await
                .is_err()
        );
    }
}
