//! Holdpoint: a SOAP/XML-compatible integration gateway in front of a durable wait engine.
//!
//! Dependencies point inward: `http` → `services` → `engine` → `store`; `soap` knows
//! nothing of the engine. `config` and `cli` sit on top and wire the parts together.

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
