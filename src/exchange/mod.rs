//! Traffic with systems outside Tandem: outbound deliveries from the durable
//! outbox (practice notifications now, partner referrals later).

pub mod outbox;
