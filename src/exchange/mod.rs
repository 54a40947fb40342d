//! Traffic with systems outside Tandem: outbound deliveries from the durable
//! outbox through channels (practice endpoints; partners; programs).

pub mod outbox;
pub mod partner;
pub mod practice;
pub mod program;
pub mod token;
