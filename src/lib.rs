//! Holdpoint: a SOAP/XML-compatible integration gateway in front of a durable wait engine.
//!
//! Dependencies point inward: `http` → `services` → `engine` → `store`; `soap` knows
//! nothing of the engine.

pub mod store;
pub mod duration;
pub mod engine;
pub mod error;
