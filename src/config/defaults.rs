//! The built-in defaults of the per-node `[http]` settings. They live here, with the
//! configuration that falls back on them, so that `config` never reaches up into the
//! edge, and the edge's state starts from the same values a node without a config file
//! runs with.

use std::time::Duration;

/// Largest request body accepted by default (SharePoint item payloads exceed WCF's 64 KB).
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// How long a request body may take to arrive by default: 4 MiB at 70 KB/s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `[http] max_buffered`: 64 near-limit (4 MiB) bodies at once.
pub const DEFAULT_MAX_BUFFERED: usize = 256 * 1024 * 1024;

/// Connections a node holds at once by default; more wait in the listen backlog, so a
/// flood of idle connections costs a bounded amount of memory (about 20 KiB each: 5,000
/// idle connections measured 94 MiB of RSS). High enough that a flood of idle strangers,
/// which the head timeout (5 s) cuts, does not lock out health checks and clients first.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long an idle keep-alive connection stays open by default.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// `[http] listen` when nothing says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
