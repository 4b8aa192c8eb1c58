use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use super::{
    BUFFERED_BYTES, BUFFERED_LINES, LineQueue, Overflow, QueueGuard, STAGE_BYTES, State, line_queue,
};

type Written = Arc<Mutex<Vec<u8>>>;

/// A sink whose first write blocks until the test lets it go, then keeps every line.
struct SlowSink {
    entered: Option<mpsc::Sender<()>>,
    release: mpsc::Receiver<()>,
    written: Written,
}

impl SlowSink {
    /// A sink stuck in its first write until `release`, which `on_entered` announces.
    fn stuck() -> (SlowSink, mpsc::Receiver<()>, mpsc::Sender<()>, Written) {
        let (entered, on_entered) = mpsc::channel();
        let (release, on_release) = mpsc::channel();
        let written = Written::default();
        let sink = SlowSink {
            entered: Some(entered),
            release: on_release,
            written: written.clone(),
        };
        (sink, on_entered, release, written)
    }

    fn fast(written: &Written) -> SlowSink {
        SlowSink {
            entered: None,
            release: mpsc::channel().1,
            written: written.clone(),
        }
    }
}

impl Write for SlowSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
            let _ = self.release.recv();
        }
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_line(queue: &LineQueue, line: &str) {
    queue.make_writer().write_all(line.as_bytes()).unwrap();
}

fn text(written: &Written) -> String {
    String::from_utf8(written.lock().unwrap().clone()).unwrap()
}

/// A queue whose writer thread holds the line "first" and is stuck in the sink until
/// `release`: the shared buffer and the stages are empty.
fn stuck_after_first_line() -> (LineQueue, QueueGuard, mpsc::Sender<()>, Written) {
    let (sink, on_entered, release, written) = SlowSink::stuck();
    let (queue, guard) = line_queue(sink);
    log_line(&queue, "first\n");
    on_entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer thread takes the first line");
    (queue, guard, release, written)
}

#[test]
fn lines_beyond_the_bound_are_dropped_and_counted_while_the_sink_is_stuck() {
    let (queue, guard, release, written) = stuck_after_first_line();
    // More than a stage holds beyond the bound: full stages are moved, and dropped.
    const OVER: usize = 3 * STAGE_BYTES / "line 99999\n".len();
    for n in 0..BUFFERED_LINES + OVER {
        log_line(&queue, &format!("line {n}\n"));
    }
    // Once lines drop, each line is counted as it is logged: none waits in a stage.
    let staged: usize = queue
        .shared
        .state()
        .stages
        .iter()
        .map(|stage| stage.lock().ends.len())
        .sum();
    assert_eq!(staged, 0);
    assert_eq!(queue.dropped(), OVER as u64);
    release.send(()).unwrap();
    guard.close_and_wait();
    // Closing moves no line that was not counted already.
    assert_eq!(queue.dropped(), OVER as u64);
    // Everything that was buffered is written by the time the guard is gone, in order.
    let written = text(&written);
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 1 + BUFFERED_LINES);
    assert_eq!(lines[0], "first");
    assert_eq!(
        lines[BUFFERED_LINES],
        format!("line {}", BUFFERED_LINES - 1)
    );
}

#[test]
fn the_byte_bound_holds_whatever_the_number_of_lines() {
    let (queue, guard, release, written) = stuck_after_first_line();
    let long = format!("{}\n", "x".repeat(BUFFERED_BYTES / 4 - 1));
    for _ in 0..6 {
        log_line(&queue, &long);
    }
    assert_eq!(queue.dropped(), 2, "four lines fill the buffer");
    release.send(()).unwrap();
    guard.close_and_wait();
    assert_eq!(text(&written).lines().count(), 5);
}

#[test]
fn a_quiet_nodes_line_is_written_at_once() {
    let written = Written::default();
    let (queue, _guard) = line_queue(SlowSink::fast(&written));
    for n in 0..3 {
        // Each time the thread has gone back to sleep on an empty buffer first.
        std::thread::sleep(Duration::from_millis(20));
        log_line(&queue, &format!("line {n}\n"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while text(&written).lines().count() <= n {
            assert!(std::time::Instant::now() < deadline, "line {n} not written");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn dropping_the_guard_writes_out_the_buffer_then_lines_bypass_it() {
    let written = Written::default();
    let (queue, guard) = line_queue(SlowSink::fast(&written));
    for n in 0..1000 {
        log_line(&queue, &format!("line {n}\n"));
    }
    guard.close_and_wait();
    let all = text(&written);
    assert_eq!(all.lines().count(), 1000);
    assert!(all.ends_with("line 999\n"));
    // After the guard the line goes to stderr, not into a buffer nobody writes.
    log_line(&queue, "after the guard\n");
    assert_eq!(queue.dropped(), 0);
    let state = queue.shared.state();
    assert!(state.lines.is_empty());
    assert!(state.stages.iter().all(|stage| stage.is_empty()));
}

#[test]
fn each_threads_lines_are_written_whole_and_in_order() {
    // Fewer lines than the bound, so that none may be dropped however slow the writer.
    const THREADS: usize = 4;
    const LINES: usize = BUFFERED_LINES / THREADS - 10;
    let written = Written::default();
    let (queue, guard) = line_queue(SlowSink::fast(&written));
    let loggers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for n in 0..LINES {
                    log_line(&queue, &format!("{thread} {n}\n"));
                }
            })
        })
        .collect();
    for logger in loggers {
        logger.join().unwrap();
    }
    guard.close_and_wait();
    let mut next = [0; THREADS];
    for line in text(&written).lines() {
        let (thread, n) = line.split_once(' ').unwrap();
        let thread: usize = thread.parse().unwrap();
        assert_eq!(n.parse::<usize>().unwrap(), next[thread], "thread {thread}");
        next[thread] += 1;
    }
    assert_eq!(next, [LINES; THREADS]);
    assert_eq!(queue.dropped(), 0);
}

#[test]
fn a_thread_that_ends_leaves_its_lines_and_then_its_stage() {
    let written = Written::default();
    let (queue, _guard) = line_queue(SlowSink::fast(&written));
    log_line(&queue, "tick\n");
    let logger = queue.clone();
    std::thread::spawn(move || log_line(&logger, "from a thread that ends\n"))
        .join()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Left in the end: this thread's stage. Each line wakes the writer for another pass.
    // The ending thread's line may be written before the first "tick" (still staged when
    // that thread moved its own): lines of two threads keep no order between them.
    while queue.shared.state().stages.len() > 1
        || !text(&written)
            .lines()
            .any(|line| line == "from a thread that ends")
    {
        assert!(std::time::Instant::now() < deadline, "line or stage left");
        std::thread::sleep(Duration::from_millis(5));
        log_line(&queue, "tick\n");
    }
}

#[test]
fn lines_bypass_the_stages_once_the_guard_is_gone_even_with_the_sink_stuck() {
    let (queue, guard, release, _written) = stuck_after_first_line();
    log_line(&queue, "staged while the sink is stuck\n");
    // The writer thread never gets to close the stages: the guard gives up after its grace.
    drop(guard);
    // To stderr, after the staged line, which would otherwise stay in its stage for good.
    log_line(&queue, "after the guard\n");
    let stages = queue.shared.state().stages.clone();
    assert!(stages.iter().all(|stage| stage.is_empty()));
    assert!(queue.shared.state().lines.is_empty());
    release.send(()).unwrap();
}

#[test]
fn a_thread_that_ends_while_the_sink_is_stuck_moves_its_lines_and_leaves_no_stage() {
    let (queue, guard, release, written) = stuck_after_first_line();
    for n in 0..5 {
        let logger = queue.clone();
        std::thread::spawn(move || log_line(&logger, &format!("from thread {n}\n")))
            .join()
            .unwrap();
    }
    {
        let state = queue.shared.state();
        assert_eq!(state.count, 5, "each thread moved its line as it ended");
        // This thread's stage, and the last ended thread's (forgotten at the next).
        assert!(state.stages.len() <= 2, "{} stages", state.stages.len());
    }
    release.send(()).unwrap();
    guard.close_and_wait();
    let expected: String = (0..5).map(|n| format!("from thread {n}\n")).collect();
    assert_eq!(text(&written), format!("first\n{expected}"));
}

#[test]
fn a_line_with_newlines_of_its_own_is_kept_or_dropped_whole() {
    let overflow = Overflow::default();
    let mut state = State {
        count: BUFFERED_LINES - 1,
        ..State::default()
    };
    // Two lines: an error's text over three, then a short one; room for one.
    state.take_in(b"failed:\n  cause\n  cause\nnext\n", &[24, 29], &overflow);
    assert_eq!(state.lines, b"failed:\n  cause\n  cause\n");
    assert_eq!(state.count, BUFFERED_LINES);
    assert_eq!(overflow.dropped.load(Ordering::Relaxed), 1);
    assert!(overflow.full.load(Ordering::Relaxed));
}
