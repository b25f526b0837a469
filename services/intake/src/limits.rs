//! Abuse limits on submissions: per client address and per reporter contact (phone or
//! e-mail, whichever channel it came through). Over the limit, the caller is told how long to
//! wait: HTTP 429 with `Retry-After`, gRPC RESOURCE_EXHAUSTED with `retry-after` metadata.
//!
//! GCRA limiters from the `governor` crate, in memory per replica: with N replicas behind a
//! balancer a client gets at most N times the quota, which bounds abuse without a shared
//! store on the submission path. A client address is the peer's, or — only when the peer is
//! a trusted proxy — the last address in `X-Forwarded-For` that is not itself a trusted
//! proxy, so a client cannot choose its own bucket by sending the header.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    /// Submissions per client address per minute; 0 switches the limit off.
    pub per_ip_per_minute: u32,
    /// Submissions per reporter phone or e-mail per hour; 0 switches the limit off.
    pub per_contact_per_hour: u32,
    /// Networks of the load balancers / ingress whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Access-code checks per report per hour, right or wrong, whoever asks: bounds
    /// guessing a code from many addresses; 0 switches the limit off.
    #[serde(default = "default_code_attempts")]
    pub code_attempts_per_hour: u32,
}

fn default_code_attempts() -> u32 {
    20
}

/// Over a limit: which one, and how long until the next submission is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub what: &'static str,
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, at least 1 (what `Retry-After` carries).
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many requests {}; retry in {} s",
            self.what,
            self.retry_after_seconds()
        )
    }
}

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_contact: Option<DefaultKeyedRateLimiter<String>>,
    per_code: Option<DefaultKeyedRateLimiter<String>>,
    trusted: Vec<IpNet>,
    clock: DefaultClock,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Result<Limits, String> {
        let trusted = settings
            .trusted_proxies
            .iter()
            .map(|net| {
                net.parse::<IpNet>()
                    .or_else(|_| net.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("limits.trusted_proxies: {net:?} is not an address or network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Limits {
            per_ip: NonZeroU32::new(settings.per_ip_per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            per_contact: NonZeroU32::new(settings.per_contact_per_hour)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_hour(n))),
            per_code: NonZeroU32::new(settings.code_attempts_per_hour)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_hour(n))),
            trusted,
            clock: DefaultClock::default(),
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the `X-Forwarded-For` value it sent.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops = forwarded_for.unwrap_or_default().split(',').rev();
        for hop in hops {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.is_trusted(ip) => continue,
                Ok(ip) => return ip,
                // A garbled hop: stop believing the chain here.
                Err(_) => return peer,
            }
        }
        peer
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some(limiter) = &self.per_ip else { return Ok(()) };
        limiter.check_key(&ip).map_err(|not_until| Limited {
            what: "from this address",
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// `contact`: an E.164 phone or an e-mail address, already normalised.
    pub fn check_contact(&self, contact: &str) -> Result<(), Limited> {
        let Some(limiter) = &self.per_contact else {
            return Ok(());
        };
        limiter.check_key(&contact.to_lowercase()).map_err(|not_until| Limited {
            what: "from this phone or e-mail",
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Counts one access-code check for the report, before the code is compared: a locked
    /// report answers every attempt the same way, so a right guess cannot be told apart.
    pub fn check_code_attempt(&self, tracking_id: &str) -> Result<(), Limited> {
        let Some(limiter) = &self.per_code else {
            return Ok(());
        };
        limiter.check_key(&tracking_id.to_owned()).map_err(|not_until| Limited {
            what: "for this report's access code",
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Forgets keys whose buckets are full again, so memory follows current traffic.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.per_contact {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.per_code {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_contact: u32, trusted: &[&str]) -> Limits {
        Limits::new(&LimitSettings {
            per_ip_per_minute: per_ip,
            per_contact_per_hour: per_contact,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            code_attempts_per_hour: 3,
        })
        .expect("valid")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn addresses_get_their_own_buckets() {
        let l = limits(2, 0, &[]);
        assert!(l.check_ip(ip("203.0.113.7")).is_ok());
        assert!(l.check_ip(ip("203.0.113.7")).is_ok());
        let limited = l.check_ip(ip("203.0.113.7")).expect_err("third in a minute");
        assert_eq!(
            limited.to_string(),
            format!(
                "too many requests from this address; retry in {} s",
                limited.retry_after_seconds()
            )
        );
        assert!((1..=60).contains(&limited.retry_after_seconds()), "{limited:?}");
        assert!(l.check_ip(ip("203.0.113.8")).is_ok(), "another address");
        assert!(l.check_contact("+6281200000001").is_ok(), "contact limit off");
    }

    #[test]
    fn access_code_checks_are_counted_per_report() {
        let l = limits(0, 0, &[]);
        for _ in 0..3 {
            assert!(l.check_code_attempt("AB3DEF7H9K").is_ok());
        }
        let locked = l.check_code_attempt("AB3DEF7H9K").expect_err("fourth in an hour");
        assert!(locked.to_string().contains("access code"), "{locked}");
        assert!(l.check_code_attempt("ZZ3DEF7H9K").is_ok(), "another report");
    }

    #[test]
    fn contacts_are_limited_case_insensitively() {
        let l = limits(0, 1, &[]);
        assert!(l.check_contact("Warga@Example.id").is_ok());
        assert!(l.check_contact("warga@example.id").is_err());
        assert!(l.check_ip(ip("203.0.113.7")).is_ok(), "address limit off");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = limits(1, 0, &["10.0.0.0/8", "127.0.0.1"]);
        // From the ingress: the last hop that is not a proxy.
        assert_eq!(
            l.client_ip(ip("10.1.2.3"), Some("198.51.100.9, 10.9.9.9")),
            ip("198.51.100.9")
        );
        // A client-supplied first hop is ignored in favour of what the proxy saw.
        assert_eq!(
            l.client_ip(ip("10.1.2.3"), Some("1.1.1.1, 198.51.100.9")),
            ip("198.51.100.9")
        );
        // A client talking directly cannot pick its bucket.
        assert_eq!(l.client_ip(ip("198.51.100.9"), Some("1.2.3.4")), ip("198.51.100.9"));
        assert_eq!(l.client_ip(ip("10.1.2.3"), Some("garbage")), ip("10.1.2.3"));
        assert_eq!(l.client_ip(ip("10.1.2.3"), None), ip("10.1.2.3"));
        assert!(
            Limits::new(&LimitSettings {
                per_ip_per_minute: 1,
                per_contact_per_hour: 1,
                trusted_proxies: vec!["not-a-net".into()],
                code_attempts_per_hour: 1,
            })
            .is_err()
        );
    }
}
