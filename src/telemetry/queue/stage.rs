//! A thread's stage: the lines it logged that are not in the shared buffer yet (the
//! queue's module doc says why they wait there), found through a list per thread.
//!
//! When a thread ends, its list moves every stage on it into the shared buffer: the lines
//! of a thread that has gone are then bounded and counted as every other line, even while
//! the writer thread is stuck, and a line the thread logs later while ending (its list is
//! gone) comes after them.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::Shared;

/// One thread's staged lines, behind a lock only that thread and the writer thread take.
#[derive(Default)]
pub(super) struct Stage {
    staged: Mutex<Staged>,
}

#[derive(Default)]
pub(super) struct Staged {
    /// Whole lines, in the order they were logged.
    pub(super) lines: Vec<u8>,
    /// Where each line ends in `lines`: a line may hold newlines of its own (an error's
    /// text), and the bound must keep or drop it whole.
    pub(super) ends: Vec<usize>,
    /// The writer thread has taken its last lines: this thread's lines go past the stage.
    pub(super) closed: bool,
}

impl Stage {
    pub(super) fn lock(&self) -> MutexGuard<'_, Staged> {
        // A line torn by a panic mid-copy is the worst a poisoned stage holds.
        self.staged
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().lines.is_empty()
    }
}

impl Staged {
    pub(super) fn push(&mut self, line: &[u8]) {
        self.lines.extend_from_slice(line);
        self.ends.push(self.lines.len());
    }

    /// Empties the stage; a busy thread's stage keeps its capacity, so that staging a line
    /// does not allocate.
    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.ends.clear();
    }
}

/// A thread's stage on one queue, as its list holds it.
struct ThreadStage {
    queue: u64,
    shared: Weak<Shared>,
    stage: Arc<Stage>,
}

impl Drop for ThreadStage {
    /// The thread is ending (or the queue is gone): its lines go on without it.
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.retire_stage(&self.stage);
        }
    }
}

thread_local! {
    /// This thread's stage on each queue it has logged to.
    static STAGES: RefCell<Vec<ThreadStage>> = const { RefCell::new(Vec::new()) };
}

/// Calls `stage_line` with this thread's stage on `shared`, registered first if the
/// thread has none. `None` when there is no stage to be had: `shared` refused one (it is
/// closed), or the thread's list is gone (the thread is ending) or in use (a line logged
/// while staging one).
pub(super) fn with_stage<R>(
    shared: &Arc<Shared>,
    stage_line: impl FnOnce(&Stage) -> R,
) -> Option<R> {
    STAGES
        .try_with(|stages| {
            let mut stages = stages.try_borrow_mut().ok()?;
            let at = match stages.iter().position(|entry| entry.queue == shared.id) {
                Some(at) => at,
                None => {
                    let stage = shared.register_stage()?;
                    // A queue that is gone left its stage to this list alone.
                    stages.retain(|entry| Arc::strong_count(&entry.stage) > 1);
                    stages.push(ThreadStage {
                        queue: shared.id,
                        shared: Arc::downgrade(shared),
                        stage,
                    });
                    stages.len() - 1
                }
            };
            Some(stage_line(&stages[at].stage))
        })
        .ok()
        .flatten()
}
