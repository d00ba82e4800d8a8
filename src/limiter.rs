//! Rate limits, in one place: a client's `rate_limit` from the clients file (URLs per minute,
//! issued and refused alike, per client and end user), and the service-wide limit on refused
//! requests per source address and per client, which keeps a flood of refusals out of the
//! audit trail. What a limit turns away is counted here, for the periodic summary record, so
//! nothing is dropped silently.
//!
//! Token buckets (GCRA) from `governor`, in memory: the limits hold per replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A rate: `per_minute` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    fn quota(self) -> Quota {
        let period = Duration::from_secs(60) / self.per_minute.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("a period above zero")
            .allow_burst(self.burst)
    }
}

/// Whom a client's `rate_limit` counts: the client, and the end user when one is known (a
/// token's `sub`; for the `anonymous` client, the source address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    pub client: String,
    pub subject: Option<String>,
}

/// Refused by a limit: try again after this long (at least a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// Most distinct (source, client, reason) rows a summary keeps; the rest are added up in one
/// row with source `other`.
const MAX_SUMMARY_ROWS: usize = 100;

/// One row of the summary: what was turned away from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Turned {
    pub source: String,
    pub client: String,
    /// The decision the request would have been audited with, or `rate_limited`.
    pub reason: &'static str,
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;
/// A client's rate, and the buckets of its end users.
type ClientBuckets = (Rate, Arc<Keyed<Option<String>>>);

/// Every rate limit of the service, shared by all requests.
pub struct Limiter {
    clock: DefaultClock,
    refusals_by_source: Keyed<IpAddr>,
    refusals_by_client: Keyed<String>,
    /// Per client id: its rate and the buckets of its callers. Kept across reloads while the
    /// rate stays the same.
    clients: Mutex<HashMap<String, ClientBuckets>>,
    turned_away: Mutex<HashMap<Turned, u64>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl Limiter {
    /// `refusals`: how many refused requests per source address, and per client, are audited
    /// one by one.
    pub fn new(refusals: Rate) -> Self {
        Self {
            clock: DefaultClock::default(),
            refusals_by_source: Keyed::keyed(refusals.quota()),
            refusals_by_client: Keyed::keyed(refusals.quota()),
            clients: Mutex::new(HashMap::new()),
            turned_away: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` URLs from `key`'s bucket under `rate`. A batch larger than the burst can
    /// never pass; it is refused like any other excess.
    pub fn check_client(&self, key: &RateKey, rate: Rate, n: u32) -> Result<(), Limited> {
        let buckets = {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = clients
                .entry(key.client.clone())
                .or_insert_with(|| (rate, Arc::new(Keyed::keyed(rate.quota()))));
            if entry.0 != rate {
                *entry = (rate, Arc::new(Keyed::keyed(rate.quota())));
            }
            Arc::clone(&entry.1)
        };
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        match buckets.check_key_n(&key.subject, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(limited(not_until.wait_time_from(self.clock.now()))),
            Err(_) => Err(limited(rate.quota().burst_size_replenished_in())),
        }
    }

    /// Whether a refusal from `source` (and `client`, when known) may have an audit record of
    /// its own; past the limit it gets a 429 and a count in the summary instead.
    pub fn admit_refusal(&self, source: IpAddr, client: Option<&str>) -> Result<(), Limited> {
        self.refusals_by_source
            .check_key(&source_key(source))
            .map_err(|not_until| limited(not_until.wait_time_from(self.clock.now())))?;
        if let Some(client) = client {
            self.refusals_by_client
                .check_key(&client.to_owned())
                .map_err(|not_until| limited(not_until.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    /// Counts a request that a limit turned away, for the next summary.
    pub fn count_turned_away(&self, source: IpAddr, client: Option<&str>, reason: &'static str) {
        let mut turned = self
            .turned_away
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut row = Turned {
            source: source_key(source).to_string(),
            client: client.unwrap_or("-").to_owned(),
            reason,
        };
        if !turned.contains_key(&row) && turned.len() >= MAX_SUMMARY_ROWS {
            row.source = "other".into();
            row.client = "-".into();
        }
        *turned.entry(row).or_insert(0) += 1;
    }

    /// What was turned away since the last call, sorted; empty when nothing was. Also forgets
    /// buckets that are full again, so that many sources do not pile up in memory.
    pub fn take_summary(&self) -> Vec<(Turned, u64)> {
        self.refusals_by_source.retain_recent();
        self.refusals_by_client.retain_recent();
        for (_, buckets) in self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            buckets.retain_recent();
        }
        let taken = std::mem::take(
            &mut *self
                .turned_away
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut rows: Vec<_> = taken.into_iter().collect();
        rows.sort();
        rows
    }
}

fn limited(wait: Duration) -> Limited {
    Limited {
        retry_after: wait.max(Duration::from_secs(1)),
    }
}

/// IPv6 callers are counted by /64, the block one host usually gets: otherwise one host could
/// take a fresh address per request and never be limited.
fn source_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate {
            per_minute: NonZeroU32::new(per_minute).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn refusals_pass_up_to_the_burst_per_source() {
        let limiter = Limiter::new(rate(1, 3));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.admit_refusal(a, None).is_ok());
        }
        let refused = limiter.admit_refusal(a, None).unwrap_err();
        assert!(refused.retry_after >= Duration::from_secs(1));
        assert!(limiter.admit_refusal(b, None).is_ok(), "another source");
    }

    #[test]
    fn refusals_are_limited_per_client_whatever_the_source() {
        let limiter = Limiter::new(rate(1, 2));
        for last in 1..=2u8 {
            let source = IpAddr::from([10, 0, 0, last]);
            assert!(limiter.admit_refusal(source, Some("frontend")).is_ok());
        }
        let fresh = IpAddr::from([10, 0, 0, 9]);
        assert!(limiter.admit_refusal(fresh, Some("frontend")).is_err());
    }

    #[test]
    fn ipv6_sources_are_counted_by_their_64_bit_prefix() {
        let limiter = Limiter::new(rate(1, 1));
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other_host_same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(limiter.admit_refusal(one, None).is_ok());
        assert!(limiter.admit_refusal(other_host_same_block, None).is_err());
    }

    #[test]
    fn a_clients_rate_counts_urls_per_end_user() {
        let limiter = Limiter::new(rate(60, 10));
        let alice = RateKey {
            client: "frontend".into(),
            subject: Some("alice".into()),
        };
        let bob = RateKey {
            subject: Some("bob".into()),
            ..alice.clone()
        };
        let limit = rate(60, 5);
        assert!(limiter.check_client(&alice, limit, 5).is_ok());
        assert!(limiter.check_client(&alice, limit, 1).is_err());
        assert!(limiter.check_client(&bob, limit, 1).is_ok());
        assert!(
            limiter.check_client(&bob, limit, 6).is_err(),
            "a batch over the burst never passes"
        );
    }

    #[test]
    fn the_summary_counts_what_was_turned_away_and_starts_again() {
        let limiter = Limiter::new(rate(1, 1));
        let source = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            limiter.count_turned_away(source, None, "unauthenticated");
        }
        limiter.count_turned_away(source, Some("frontend"), "denied");
        let summary = limiter.take_summary();
        assert_eq!(summary.len(), 2);
        assert!(summary.contains(&(
            Turned {
                source: "10.0.0.1".into(),
                client: "-".into(),
                reason: "unauthenticated"
            },
            3
        )));
        assert!(limiter.take_summary().is_empty());
    }

    #[test]
    fn the_summary_stays_bounded_however_many_sources() {
        let limiter = Limiter::new(rate(1, 1));
        for n in 0..1000u32 {
            limiter.count_turned_away(IpAddr::from(n.to_be_bytes()), None, "denied");
        }
        let summary = limiter.take_summary();
        assert!(summary.len() <= MAX_SUMMARY_ROWS + 1, "{}", summary.len());
        let total: u64 = summary.iter().map(|(_, count)| count).sum();
        assert_eq!(total, 1000, "nothing dropped, only added up");
    }
}
