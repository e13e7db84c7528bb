//! Typed option structs of the channel calls, named after AMQP 0-9-1 and lapin.
//!
//! Every struct is `Default` (all flags false), so `QueueDeclareOptions { durable: true,
//! ..Default::default() }` reads like the AMQP call.

/// `exchange_declare` flags (SEMANTICS E10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangeDeclareOptions {
    /// Only check that the exchange exists (→ 404 if not); compare nothing.
    pub passive: bool,
    /// Survives a restart (takes effect with the durable store; recorded and compared now).
    pub durable: bool,
    /// Deleted with its last binding as a source (SEMANTICS E9).
    pub auto_delete: bool,
    /// Refuses direct publishes (SEMANTICS E8); reachable through exchange bindings only.
    pub internal: bool,
}

/// `exchange_delete` flags (SEMANTICS E11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangeDeleteOptions {
    /// Refuse (406) while the exchange is the source of a binding.
    pub if_unused: bool,
}

/// `queue_declare` flags (SEMANTICS Q1-Q8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDeclareOptions {
    /// Only check that the queue exists (→ 404) and is not another connection's exclusive
    /// queue (→ 405); compare nothing.
    pub passive: bool,
    /// Survives a restart (takes effect with the durable store; recorded and compared now).
    pub durable: bool,
    /// Owned by the declaring connection and deleted when it closes (SEMANTICS Q3).
    pub exclusive: bool,
    /// Deleted when its last consumer goes (SEMANTICS Q5).
    pub auto_delete: bool,
}

/// `queue_delete` flags (SEMANTICS Q9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDeleteOptions {
    /// Refuse (406) while the queue has a consumer.
    pub if_unused: bool,
    /// Refuse (406) while the queue has a ready message.
    pub if_empty: bool,
}

/// `basic_publish` flags (SEMANTICS P1, P2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicPublishOptions {
    /// Return the message (312 NO_ROUTE) when no queue takes it, instead of dropping it.
    pub mandatory: bool,
    /// Not supported by RabbitMQ 3+ either: → 540.
    pub immediate: bool,
}

/// `basic_consume` flags (SEMANTICS D7, D8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicConsumeOptions {
    /// Automatic acknowledgement: deliveries are settled on hand-over (no credit, no requeue).
    pub no_ack: bool,
    /// The only consumer of the queue while it lasts (SEMANTICS D7).
    pub exclusive: bool,
    /// Accepted and ignored, as RabbitMQ does.
    pub no_local: bool,
}

/// `basic_get` flags (SEMANTICS D9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicGetOptions {
    /// Settle the message on hand-over.
    pub no_ack: bool,
}

/// `basic_qos` flags (SEMANTICS D3, D4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicQosOptions {
    /// One cap shared by the channel's consumers, present and future (instead of a cap for
    /// each consumer created later).
    pub global: bool,
}

/// `basic_ack` flags (SEMANTICS A2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicAckOptions {
    /// Settle every unacked delivery of the channel up to and including the tag (all with 0).
    pub multiple: bool,
}

/// `basic_nack` flags (SEMANTICS A4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicNackOptions {
    /// As in [`BasicAckOptions::multiple`].
    pub multiple: bool,
    /// Put the messages back at their places instead of discarding them.
    pub requeue: bool,
    /// With `requeue`: put them back at the tail of the queue instead, behind every message
    /// queued now (a warren extension; RabbitMQ always restores the original place).
    pub at_tail: bool,
}

/// `basic_reject` flags (SEMANTICS A4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicRejectOptions {
    /// Put the message back at its place instead of discarding it.
    pub requeue: bool,
}
