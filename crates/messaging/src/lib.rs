//! The messaging backbone (DESIGN §5–6): topology, a confirming publisher, the
//! transactional outbox with its relay, and the idempotent consumer runner, all over a
//! supervised RabbitMQ connection that heals itself.

pub mod broker;
pub mod consumer;
pub mod dead_letters;
pub mod envelope;
pub mod history;
pub mod inbox;
pub mod migration;
pub mod outbox;
pub mod propagation;
pub mod publisher;
pub mod topology;

pub use broker::Broker;
pub use consumer::{ConsumerSpec, DeliveryContext, EventHandler, HandlerError};
pub use envelope::{OutgoingEvent, new_envelope, new_typed_envelope};
pub use outbox::{Outbox, OutboxRelay};
