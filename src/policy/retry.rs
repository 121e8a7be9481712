use std::time::Duration;

/// Delay before try number `tries + 1` on the same channel: `base · 2^(tries-1)`, capped, then
/// spread by ±20% (`jitter` in -1.0..=1.0) so many failed sends do not come back at once.
pub fn retry_delay(tries: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = tries.saturating_sub(1).min(20);
    let plain = base.saturating_mul(1 << exponent).min(cap);
    let factor = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
    plain.mul_f64(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_try_and_stop_at_the_cap() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=7)
            .map(|t| retry_delay(t, base, cap, 0.0).as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn jitter_spreads_by_at_most_a_fifth() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(600);
        assert_eq!(retry_delay(1, base, cap, 1.0), Duration::from_secs(12));
        assert_eq!(retry_delay(1, base, cap, -1.0), Duration::from_secs(8));
        assert_eq!(retry_delay(1, base, cap, 7.0), Duration::from_secs(12));
    }
}
