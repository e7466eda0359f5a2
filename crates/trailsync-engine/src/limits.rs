//! Client-side rate limiting: token buckets shaped like AWS's own, so that trailsync spends its
//! request budget evenly instead of being throttled (and so that full sync, reconciliation and
//! event re-fetches share one budget per account, region and service). In a fleet each worker
//! takes its share of the budget ([`RateLimiter::share_with`]), so that the fleet as a whole
//! stays within what one worker would spend.
//!
//! The sizes are AWS's published quotas, and a bucket adapts around them to what the account
//! allows, as the SDK's adaptive retry mode does: it starts generous, at [`MOST_FACTOR`] times
//! the quota (a full sync is not paced by a guess), a throttling answer halves its rate (at most
//! once per [`DECREASE_COOLDOWN`], so one burst of refusals is one decrease), and every call that
//! goes through adds a little back, up to that ceiling again: additive increase, multiplicative
//! decrease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A token bucket's shape: how many requests may go at once, and how fast the bucket refills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketSize {
    pub burst: f64,
    /// Tokens added per second; positive.
    pub refill_per_second: f64,
}

/// The lowest a bucket's rate falls, as a fraction of the quota: callers already queued
/// keep the waits they were given, so a deep floor would keep them long after AWS recovered.
pub const LEAST_FACTOR: f64 = 0.25;
/// The highest a bucket's rate climbs while AWS keeps answering, as a multiple of the quota;
/// also where it starts.
pub const MOST_FACTOR: f64 = 4.0;
/// What the factor regains per second while calls go through: from the floor back to the
/// quota in under ten seconds, to the ceiling in about forty.
pub const INCREASE_PER_SECOND: f64 = 0.1;
/// Throttling answers within this long of a decrease do not decrease again.
pub const DECREASE_COOLDOWN: Duration = Duration::from_secs(1);

/// One token bucket. Callers reserve a token and wait until it exists, so that concurrent
/// callers queue in arrival order instead of all retrying at once.
#[derive(Debug)]
pub struct TokenBucket {
    size: BucketSize,
    /// Negative when callers are queued for tokens not yet refilled.
    tokens: f64,
    updated: Instant,
    /// The adapted rate, as a multiple of `size`.
    factor: f64,
    last_decrease: Option<Instant>,
    /// Since when the factor has been growing.
    growing_since: Instant,
}

impl TokenBucket {
    /// A full bucket at its ceiling: nothing has been throttled yet.
    pub fn new(size: BucketSize, now: Instant) -> TokenBucket {
        TokenBucket {
            size,
            tokens: size.burst * MOST_FACTOR,
            updated: now,
            factor: MOST_FACTOR,
            last_decrease: None,
            growing_since: now,
        }
    }

    /// The rate now, tokens per second.
    pub fn rate(&self) -> f64 {
        (self.size.refill_per_second * self.factor).max(f64::MIN_POSITIVE)
    }

    /// AWS answered "slow down": halve the rate (once per cooldown) and drop saved tokens.
    pub fn throttled(&mut self, now: Instant) {
        if self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < DECREASE_COOLDOWN)
        {
            return;
        }
        self.factor = (self.factor / 2.0).max(LEAST_FACTOR);
        self.tokens = self.tokens.min(0.0);
        self.updated = self.updated.max(now);
        self.last_decrease = Some(now);
        self.growing_since = now;
    }

    /// A call went through at `now`: regain what the time since the last change allows.
    pub fn succeeded(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.growing_since)
            .as_secs_f64();
        self.factor = (self.factor + elapsed * INCREASE_PER_SECOND).min(MOST_FACTOR);
        self.growing_since = now;
    }

    /// Reshapes the bucket (a fleet grew or shrank); tokens beyond the new burst are dropped.
    pub fn resize(&mut self, size: BucketSize) {
        if self.size != size {
            self.size = size;
            self.tokens = self.tokens.min(size.burst);
        }
    }

    /// Takes one token at `now`; returns how long to wait before using it (zero if it was there).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let rate = self.rate();
        let burst = (self.size.burst * self.factor).max(1.0);
        if now > self.updated {
            let elapsed = (now - self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(burst);
            self.updated = now;
        }
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

/// Token buckets by key (e.g. region and service), each created full on first use.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, &'static str), TokenBucket>>,
    /// Workers sharing the budget (0 and 1 both mean alone).
    workers: AtomicUsize,
}

impl RateLimiter {
    /// Shares every bucket among `workers` workers: each gets `1/workers` of the burst (at
    /// least one call) and of the refill rate.
    pub fn share_with(&self, workers: usize) {
        let before = self.workers.swap(workers.max(1), Ordering::Relaxed).max(1);
        if before != workers.max(1) {
            tracing::info!(workers, "sharing the AWS request budget with the fleet");
        }
    }

    /// `size` as this worker's share.
    fn share_of(&self, size: BucketSize) -> BucketSize {
        let workers = self.workers.load(Ordering::Relaxed).max(1) as f64;
        BucketSize {
            burst: (size.burst / workers).max(1.0),
            refill_per_second: size.refill_per_second / workers,
        }
    }

    /// Waits for a token of the bucket `(scope, name)`, created with `size` (this worker's
    /// share of it) if new.
    pub async fn acquire(&self, scope: &str, name: &'static str, size: BucketSize) {
        let size = self.share_of(size);
        let wait = match self.buckets.lock() {
            Ok(mut buckets) => {
                let now = Instant::now();
                let bucket = buckets
                    .entry((scope.to_string(), name))
                    .or_insert_with(|| TokenBucket::new(size, now));
                bucket.resize(size);
                bucket.reserve(now)
            }
            // A poisoned lock only means another caller panicked; never block AWS calls on it.
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// AWS throttled a call paced by `(scope, name)`: that bucket slows down.
    pub fn throttled(&self, scope: &str, name: &'static str) {
        if let Ok(mut buckets) = self.buckets.lock()
            && let Some(bucket) = buckets.get_mut(&(scope.to_string(), name))
        {
            let before = bucket.rate();
            bucket.throttled(Instant::now());
            if bucket.rate() < before {
                tracing::debug!(
                    scope,
                    bucket = name,
                    rate = bucket.rate(),
                    "throttled by AWS; slowing down"
                );
            }
        }
    }

    /// A call paced by `(scope, name)` went through: that bucket speeds up a little.
    pub fn succeeded(&self, scope: &str, name: &'static str) {
        if let Ok(mut buckets) = self.buckets.lock()
            && let Some(bucket) = buckets.get_mut(&(scope.to_string(), name))
        {
            bucket.succeeded(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC2: BucketSize = BucketSize {
        burst: 100.0,
        refill_per_second: 20.0,
    };

    /// A bucket as it is once AWS has throttled it down to the quota.
    fn at_quota(start: Instant) -> TokenBucket {
        let mut bucket = TokenBucket::new(EC2, start);
        bucket.throttled(start);
        bucket.throttled(start + DECREASE_COOLDOWN);
        assert_eq!(bucket.rate(), EC2.refill_per_second);
        bucket
    }

    #[test]
    fn a_new_bucket_starts_generous() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(EC2, start);
        assert_eq!(bucket.rate(), EC2.refill_per_second * MOST_FACTOR);
        for _ in 0..400 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        // The next waits one refill interval at four times the quota, the one after two.
        assert_eq!(bucket.reserve(start), Duration::from_micros(12_500));
        assert_eq!(bucket.reserve(start), Duration::from_millis(25));
    }

    #[test]
    fn a_bucket_at_quota_paces_at_the_refill_rate() {
        let start = Instant::now();
        let mut bucket = at_quota(start);
        let now = start + DECREASE_COOLDOWN;
        // Throttling dropped the saved tokens: callers queue one refill interval apart.
        assert_eq!(bucket.reserve(now), Duration::from_millis(50));
        assert_eq!(bucket.reserve(now), Duration::from_millis(100));
    }

    #[test]
    fn throttling_halves_the_rate_once_per_cooldown_and_time_wins_it_back() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(EC2, start);
        bucket.throttled(start);
        bucket.throttled(start + Duration::from_millis(10));
        assert_eq!(bucket.rate(), 40.0, "one burst of refusals is one decrease");
        let start = start + DECREASE_COOLDOWN;
        bucket.throttled(start);
        bucket.throttled(start + DECREASE_COOLDOWN);
        assert_eq!(bucket.rate(), 10.0);
        let start = start + DECREASE_COOLDOWN;
        let later = start + DECREASE_COOLDOWN;
        bucket.throttled(later);
        assert_eq!(bucket.rate(), 5.0);
        // Saved tokens are gone: the next call waits for the slower refill.
        assert_eq!(bucket.reserve(later), Duration::from_millis(200));
        // Five seconds of calls going through: +0.5 of the starting rate.
        bucket.succeeded(later + Duration::from_secs(5));
        assert!((bucket.rate() - 15.0).abs() < 1e-9, "{}", bucket.rate());
        bucket.succeeded(later + Duration::from_secs(3600));
        assert_eq!(
            bucket.rate(),
            EC2.refill_per_second * MOST_FACTOR,
            "bounded above"
        );
        let mut at = later + Duration::from_secs(3600);
        for _ in 0..100 {
            at += DECREASE_COOLDOWN;
            bucket.throttled(at);
        }
        assert_eq!(
            bucket.rate(),
            EC2.refill_per_second * LEAST_FACTOR,
            "bounded below"
        );
        // From the floor back to the starting rate in under ten seconds.
        bucket.succeeded(at + Duration::from_millis(7_500));
        assert!(bucket.rate() >= EC2.refill_per_second, "{}", bucket.rate());
    }

    #[test]
    fn tokens_refill_with_time_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = at_quota(start);
        let start = start + DECREASE_COOLDOWN;
        // One second later 20 tokens are back.
        let later = start + Duration::from_secs(1);
        for _ in 0..20 {
            assert_eq!(bucket.reserve(later), Duration::ZERO);
        }
        assert!(bucket.reserve(later) > Duration::ZERO);
        // An hour of idleness refills only up to the burst.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..100 {
            assert_eq!(bucket.reserve(much_later), Duration::ZERO);
        }
        assert!(bucket.reserve(much_later) > Duration::ZERO);
    }

    #[test]
    fn a_clock_going_backwards_does_not_refill() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(
            BucketSize {
                burst: 1.0,
                refill_per_second: 1.0,
            },
            start,
        );
        // A new bucket holds four times its burst and refills at four times its rate.
        for _ in 0..4 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        assert_eq!(
            bucket.reserve(start - Duration::from_secs(5)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn a_fleet_of_four_gives_each_worker_a_quarter() {
        let limiter = RateLimiter::default();
        limiter.share_with(4);
        assert_eq!(
            limiter.share_of(EC2),
            BucketSize {
                burst: 25.0,
                refill_per_second: 5.0
            }
        );
        let tiny = BucketSize {
            burst: 2.0,
            refill_per_second: 1.0,
        };
        assert_eq!(
            limiter.share_of(tiny).burst,
            1.0,
            "never less than one call"
        );
        limiter.share_with(0);
        assert_eq!(limiter.share_of(EC2), EC2);
        // A shrunk bucket keeps no more tokens than its new burst.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(EC2, start);
        bucket.resize(limiter.share_of(EC2));
        limiter.share_with(4);
        bucket.resize(limiter.share_of(EC2));
        for _ in 0..25 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        assert!(bucket.reserve(start) > Duration::ZERO);
    }

    #[tokio::test]
    async fn buckets_are_separate_per_key() {
        let limiter = RateLimiter::default();
        let one = BucketSize {
            burst: 1.0,
            refill_per_second: 10.0,
        };
        let started = Instant::now();
        // A new bucket starts at four times its size: four calls each.
        for _ in 0..4 {
            limiter.acquire("us-east-1", "ec2", one).await;
            limiter.acquire("eu-west-1", "ec2", one).await;
            limiter.acquire("us-east-1", "rds", one).await;
        }
        let free = started.elapsed();
        limiter.acquire("us-east-1", "ec2", one).await;
        // The fifth ec2 call in us-east-1 waited for a refill at 40 per second (a lower bound,
        // not a speed).
        assert!(started.elapsed() >= Duration::from_millis(20), "{free:?}");
    }
}
