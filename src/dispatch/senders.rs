use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use medrelay_channels::ChannelKind;

/// Per-sender throughput limits (governor). Over the rate the dispatcher waits: a message is
/// never failed for this.
#[derive(Debug)]
pub struct SenderLimits {
    by_channel: HashMap<ChannelKind, DefaultKeyedRateLimiter<String>>,
}

impl SenderLimits {
    pub fn new(rate_per_second: impl Fn(ChannelKind) -> u32) -> Self {
        let by_channel = ChannelKind::ALL
            .into_iter()
            .map(|kind| {
                let rate = NonZeroU32::new(rate_per_second(kind)).unwrap_or(NonZeroU32::MIN);
                (kind, RateLimiter::keyed(Quota::per_second(rate)))
            })
            .collect();
        Self { by_channel }
    }

    pub async fn until_ready(&self, channel: ChannelKind, sender: &str) {
        if let Some(limiter) = self.by_channel.get(&channel) {
            limiter.until_key_ready(&sender.to_owned()).await;
        }
    }
}
