use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use medrelay_channels::ChannelKind;

/// Per-sender throughput limits (governor). Over the rate the dispatcher waits: a message is
/// never failed for this.
#[derive(Debug, Default)]
pub struct SenderLimits {
    by_sender: HashMap<(ChannelKind, String), DefaultDirectRateLimiter>,
}

impl SenderLimits {
    /// One limit per (channel, sender id, messages per second).
    pub fn new(senders: impl IntoIterator<Item = (ChannelKind, String, u32)>) -> Self {
        let by_sender = senders
            .into_iter()
            .map(|(kind, sender, rate)| {
                let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
                ((kind, sender), RateLimiter::direct(Quota::per_second(rate)))
            })
            .collect();
        Self { by_sender }
    }

    pub async fn until_ready(&self, channel: ChannelKind, sender: &str) {
        if let Some(limiter) = self.by_sender.get(&(channel, sender.to_owned())) {
            limiter.until_ready().await;
        }
    }
}
