//! A thread's stage: the lines it logged that are not in the shared buffer yet (the
//! queue's module doc says why they wait there), found through a list per thread.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard};

/// One thread's staged lines, behind a lock only that thread and the writer thread take.
#[derive(Default)]
pub(super) struct Stage {
    staged: Mutex<Staged>,
}

/// What a stage holds.
#[derive(Default)]
pub(super) struct Staged {
    /// Whole lines, in the order they were logged.
    pub(super) lines: Vec<u8>,
    pub(super) count: usize,
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
        self.count += 1;
    }

    /// Empties the stage, keeping its capacity (at most a stage and a line).
    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.count = 0;
    }
}

thread_local! {
    /// This thread's stage on each queue it has logged to, by the queue's id.
    static STAGES: RefCell<Vec<(u64, Arc<Stage>)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `stage_line` with this thread's stage on queue `queue`, registered first by
/// `register` if the thread has none. `None` when there is no stage to be had: `register`
/// refused (the queue is closed), or the thread's list is gone (the thread is ending) or
/// in use (a line logged while staging one).
pub(super) fn with_stage<R>(
    queue: u64,
    register: impl FnOnce() -> Option<Arc<Stage>>,
    stage_line: impl FnOnce(&Stage) -> R,
) -> Option<R> {
    STAGES
        .try_with(|stages| {
            let mut stages = stages.try_borrow_mut().ok()?;
            let at = match stages.iter().position(|(id, _)| *id == queue) {
                Some(at) => at,
                None => {
                    let stage = register()?;
                    // The stages of queues that are gone are held by this list alone.
                    stages.retain(|(_, stage)| Arc::strong_count(stage) > 1);
                    stages.push((queue, stage));
                    stages.len() - 1
                }
            };
            Some(stage_line(&stages[at].1))
        })
        .ok()
        .flatten()
}
