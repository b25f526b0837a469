//! Service scaffolding shared by the four services: layered configuration, telemetry,
//! signals and graceful shutdown, the gRPC and HTTP servers, and database start-up.

pub mod auth;
pub mod config;
pub mod database;
pub mod directory_sync;
pub mod gauges;
pub mod grpc;
pub mod http;
pub mod lifecycle;
pub mod rpc_metrics;
pub mod service;
pub mod telemetry;

pub use lifecycle::{Lifecycle, Listeners, Tier};
pub use service::ServiceCore;
