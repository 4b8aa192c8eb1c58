//! The edge toolkit: what every dialect needs between actix and the engine, and nothing
//! about which dialects there are. Authentication extractors ([`auth`]), bounded body
//! reading ([`body`], [`budget`]), the client's address ([`client_addr`]), credentials
//! checked before a body is read ([`gate`]), error → response mapping ([`errors`]), SOAP
//! dispatch ([`soap`]), request observation ([`observe`]) and TLS ([`tls`]).
//!
//! Per-node settings reach the extractors through [`EdgeState`], registered as its own
//! `app_data`; the assembly of the app (which services, health routes, the endpoint
//! listing) belongs to the app module above, so nothing here imports a service or the app.

pub mod auth;
pub mod body;
pub mod budget;
pub mod client_addr;
pub mod edge;
pub mod errors;
pub mod gate;
pub mod observe;
pub mod soap;
pub mod tls;

pub use edge::EdgeState;
