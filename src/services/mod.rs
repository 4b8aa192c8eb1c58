//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API), each
//! mapping its calls onto engine commands and nothing else. They arrive with the gateway
//! issues; the engine's command surface they will use is [`crate::engine::Engine`].
