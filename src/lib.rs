//! Holdpoint: a SOAP/XML-compatible integration gateway in front of a durable wait engine.
//!
//! Dependencies point one way: `app` (assembly) → `services` (wire dialects) → `http`
//! (edge toolkit) / `engine` → `store`; `soap` is a leaf that knows nothing of the engine.
//! `config` resolves settings (the dialects' settings types included) and imports neither
//! the edge nor a service; `cli` sits on top and wires the parts together.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod duration;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod networks;
pub mod services;
pub mod soap;
pub mod store;
pub mod telemetry;
mod toml_error;
