//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API), each
//! mapping its calls onto engine commands and nothing else.

pub mod api;
pub mod server_items;
