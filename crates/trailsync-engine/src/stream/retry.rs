//! How long to wait before asking again: exponential backoff with jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::RetryPolicy;

/// The first wait after a failure, and the longest.
pub(crate) const FIRST: Duration = Duration::from_secs(1);
pub(crate) const CAP: Duration = Duration::from_secs(60);

/// The wait after the `failures`th consecutive failure (from 1): doubling from `first` up to
/// `cap`, then a random share of it between a half and all of it, so that many keys failing
/// together do not all come back at once.
pub(crate) fn backoff(policy: RetryPolicy, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let full = policy.first.saturating_mul(1 << exponent).min(policy.cap);
    let half = full / 2;
    half + half.mul_f64(random_unit())
}

/// A number in [0, 1) from the standard library's per-process random hasher keys.
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter_below_them() {
        for (failures, full) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (50, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let wait = backoff(RetryPolicy::default(), failures);
                assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
            }
        }
        let waits: std::collections::HashSet<Duration> = (0..20)
            .map(|_| backoff(RetryPolicy::default(), 5))
            .collect();
        assert!(waits.len() > 1, "jittered");
    }
}
