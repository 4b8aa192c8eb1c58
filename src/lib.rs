//! Holdpoint: a SOAP/XML-compatible integration gateway in front of a durable wait engine.
//!
//! Dependencies point one way: `app` (assembly) → `services` (wire dialects) → `http`
//! (edge toolkit) / `engine` → `store`; `soap` is a leaf that knows nothing of the engine.
//! `config` resolves settings (the dialects' settings types included) and imports neither
//! the edge nor a service; `cli` sits on top and wires the parts together.

// Every path of the server may meet input from a stranger: a panic there is a defect, so the
// library and the binary say why a value must be present (`expect`) or handle its absence.
// Tests unwrap freely (clippy.toml).
#![deny(clippy::unwrap_used)]

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
