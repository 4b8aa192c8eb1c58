//! `holdpoint`: parse the command line, then hand over to [`holdpoint::cli::run`].

#![deny(clippy::unwrap_used)]

use clap::Parser;

/// jemalloc with background threads, instead of the system allocator. After a burst of large
/// request bodies, glibc's malloc kept the memory: its mmap threshold rises to the size of
/// the first large buffer freed, so later 4 MiB bodies come from per-thread arenas it seldom
/// trims (measured: 574 MiB peak, still 458 MiB 30 s later, idle 20 MiB; RELIABILITY.md,
/// "bursts"). jemalloc's background threads purge freed pages on a timer (dirty pages decay
/// over 10 s, muzzy ones at once), so resident memory returns to idle without any request
/// having to come along and trigger it, and it needs no unsafe configuration call.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = holdpoint::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("holdpoint: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(holdpoint::cli::run(cli))
}
