//! In-process guards with `governor`. They are per replica: a first, cheap line against
//! floods, not an exact limit (exact limits are in PostgreSQL). Three keys:
//! - the calling project (every `/v1` request);
//! - the end user's IP, only when the calling backend passes `attributes.ip_address`
//!   (sends and authenticates);
//! - the network client (TCP peer, or the `X-Forwarded-For` hop before the first trusted
//!   proxy). That is usually the calling auth backend, so its default is a high flood guard,
//!   never an end-user limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A bad `[limits]` setting, naming its key (`config` turns it into a configuration error).
#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {reason}")]
pub struct ClientLimitsError {
    pub key: &'static str,
    pub reason: String,
}

/// `[limits]` in the configuration file. A rate of 0 turns that guard off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ClientLimitsConfig {
    /// Requests per second per project, and the burst above that.
    pub project_per_second: u32,
    pub project_burst: u32,
    /// Sends and authenticates per minute per end-user IP (`attributes.ip_address`).
    pub end_user_per_minute: u32,
    pub end_user_burst: u32,
    /// Requests per second per network client: a flood guard (see module docs).
    pub peer_per_second: u32,
    pub peer_burst: u32,
    /// Comma-separated CIDRs whose `X-Forwarded-For` is believed; default none.
    pub trusted_proxies: String,
}

impl Default for ClientLimitsConfig {
    fn default() -> Self {
        ClientLimitsConfig {
            project_per_second: 200,
            project_burst: 400,
            end_user_per_minute: 10,
            end_user_burst: 10,
            peer_per_second: 1000,
            peer_burst: 2000,
            trusted_proxies: String::new(),
        }
    }
}

impl ClientLimitsConfig {
    pub fn trusted_proxy_nets(&self) -> Result<Vec<IpNet>, ClientLimitsError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ClientLimitsError {
                        key: "limits.trusted_proxies",
                        reason: format!("`{s}` is not a CIDR"),
                    })
            })
            .collect()
    }
}

struct Guard<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> Guard<K> {
    fn new(quota: Option<Quota>) -> Self {
        Guard {
            limiter: quota.map(RateLimiter::keyed),
        }
    }

    /// `Err(wait)` when the key is over its quota.
    fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(l) = &self.limiter else {
            return Ok(());
        };
        l.check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// What a per-IP guard counts: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6
/// address's /64, since one subscriber is usually given a whole /64 and can rotate inside it.
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

fn quota(per: u32, burst: u32, period: Duration) -> Option<Quota> {
    let per = NonZeroU32::new(per)?;
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(per);
    Quota::with_period(period / per.get()).map(|q| q.allow_burst(burst))
}

/// The three guards of one replica.
/// The key of clients behind a trusted proxy whose forwarded address is garbled.
pub const UNIDENTIFIED: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

pub struct ClientLimits {
    project: Guard<String>,
    end_user: Guard<(String, IpAddr)>,
    peer: Guard<IpAddr>,
    trusted: Vec<IpNet>,
}

impl ClientLimits {
    pub fn new(cfg: &ClientLimitsConfig) -> Result<Self, ClientLimitsError> {
        let second = Duration::from_secs(1);
        Ok(ClientLimits {
            project: Guard::new(quota(cfg.project_per_second, cfg.project_burst, second)),
            end_user: Guard::new(quota(
                cfg.end_user_per_minute,
                cfg.end_user_burst,
                Duration::from_secs(60),
            )),
            peer: Guard::new(quota(cfg.peer_per_second, cfg.peer_burst, second)),
            trusted: cfg.trusted_proxy_nets()?,
        })
    }

    pub fn check_project(&self, project: &str) -> Result<(), Duration> {
        self.project.check(&project.to_owned())
    }

    pub fn check_end_user(&self, project: &str, ip: IpAddr) -> Result<(), Duration> {
        self.end_user.check(&(project.to_owned(), rate_key(ip)))
    }

    pub fn check_peer(&self, client: IpAddr) -> Result<(), Duration> {
        self.peer.check(&rate_key(client))
    }

    /// The network client: the TCP peer, unless it is a trusted proxy, in which case the
    /// right-most `X-Forwarded-For` entry that isn't a trusted proxy. `forwarded_for` is every
    /// `X-Forwarded-For` header line in order (a proxy may append its own line rather than
    /// extend the last one); a line that isn't text counts as a garbled hop.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[Option<&str>]) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted.iter().any(|n| n.contains(ip));
        let peer = peer.to_canonical();
        if !trusted(&peer) {
            return peer;
        }
        let hops = forwarded_for
            .iter()
            .rev()
            .flat_map(|line| line.unwrap_or("\u{0}").rsplit(','));
        let mut client = peer;
        for hop in hops {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !trusted(&client) {
                        break;
                    }
                }
                // A garbled hop: nothing left of it is believed. It stands for a client we
                // can't name, never for the proxy that passed it on (which would put that
                // proxy's other traffic behind whoever sends garbage): such clients share
                // one key of their own, the unspecified address.
                Err(_) => {
                    if trusted(&client) {
                        client = UNIDENTIFIED;
                    }
                    break;
                }
            }
        }
        client
    }

    /// Drops state of keys that are back to full capacity; run periodically.
    pub fn forget_idle(&self) {
        self.project.forget_idle();
        self.end_user.forget_idle();
        self.peer.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn limits(trusted: &str) -> ClientLimits {
        ClientLimits::new(&ClientLimitsConfig {
            trusted_proxies: trusted.into(),
            end_user_per_minute: 2,
            end_user_burst: 2,
            ..ClientLimitsConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = limits("");
        assert_eq!(
            none.client_ip(ip("10.0.0.5"), &[Some("203.0.113.9")]),
            ip("10.0.0.5")
        );
        let l = limits("10.0.0.0/8, 192.168.1.1");
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("203.0.113.9")]),
            ip("203.0.113.9")
        );
        // A client can prepend anything; only the hop our proxy appended counts.
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("1.2.3.4, 203.0.113.9, 192.168.1.1")]),
            ip("203.0.113.9")
        );
        assert_eq!(
            l.client_ip(ip("203.0.113.7"), &[Some("1.2.3.4")]),
            ip("203.0.113.7")
        );
        // A garbled right-most hop is an unidentified client, not the proxy.
        assert_eq!(l.client_ip(ip("10.0.0.5"), &[Some("junk")]), UNIDENTIFIED);
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("203.0.113.9, 10.0.0.7 x")]),
            UNIDENTIFIED
        );
        assert!(ClientLimits::new(&ClientLimitsConfig {
            trusted_proxies: "10.0.0.0/33".into(),
            ..ClientLimitsConfig::default()
        })
        .is_err());
    }

    #[test]
    fn end_user_limits_are_per_project_and_ip() {
        let l = limits("");
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(l.check_end_user("p1", a).is_ok());
        assert!(l.check_end_user("p1", a).is_ok());
        let wait = l.check_end_user("p1", a).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(30));
        assert!(l.check_end_user("p1", b).is_ok());
        assert!(l.check_end_user("p2", a).is_ok());
    }

    #[test]
    fn a_zero_rate_turns_a_guard_off() {
        let l = ClientLimits::new(&ClientLimitsConfig {
            project_per_second: 0,
            ..ClientLimitsConfig::default()
        })
        .unwrap();
        for _ in 0..10_000 {
            assert!(l.check_project("p").is_ok());
        }
    }

    #[test]
    fn forwarded_for_spans_every_header_line() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let l = limits("10.0.0.0/8");
        // The client wrote the first line; our proxy appended the second.
        assert_eq!(
            l.client_ip(
                ip("10.0.0.5"),
                &[Some("1.2.3.4"), Some("203.0.113.9, 10.0.0.7")]
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("1.2.3.4"), Some("10.0.0.7")]),
            ip("1.2.3.4")
        );
        // A line that isn't text is a garbled hop: nothing left of it is believed, and the
        // client is unidentified rather than the proxy 10.0.0.7.
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("1.2.3.4"), None, Some("10.0.0.7")]),
            UNIDENTIFIED
        );
        // Past an untrusted hop, a garbled one further left changes nothing.
        assert_eq!(
            l.client_ip(ip("10.0.0.5"), &[Some("junk, 203.0.113.9")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_and_hops_are_their_ipv4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let l = limits("10.0.0.0/8");
        assert_eq!(
            l.client_ip(ip("::ffff:10.0.0.5"), &[Some("203.0.113.9")]),
            ip("203.0.113.9"),
            "a dual-stack listener sees the trusted proxy as ::ffff:10.0.0.5"
        );
        assert_eq!(
            l.client_ip(
                ip("::ffff:10.0.0.5"),
                &[Some("::ffff:203.0.113.9, ::ffff:10.0.0.6")]
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            limits("").client_ip(ip("::ffff:198.51.100.1"), &[]),
            ip("198.51.100.1")
        );
        let mapped = ip("::ffff:198.51.100.1");
        assert!(l.check_end_user("p", ip("198.51.100.1")).is_ok());
        assert!(l.check_end_user("p", mapped).is_ok());
        assert!(
            l.check_end_user("p", mapped).is_err(),
            "one address, one budget"
        );
    }

    #[test]
    fn ipv6_end_users_share_a_budget_per_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let l = limits("");
        assert!(l.check_end_user("p", ip("2001:db8:1:2::1")).is_ok());
        assert!(l.check_end_user("p", ip("2001:db8:1:2:ffff::9")).is_ok());
        assert!(
            l.check_end_user("p", ip("2001:db8:1:2:dead:beef:0:1"))
                .is_err(),
            "rotating inside the /64 doesn't buy more sends"
        );
        assert!(
            l.check_end_user("p", ip("2001:db8:1:3::1")).is_ok(),
            "the next /64"
        );
        let peers = ClientLimits::new(&ClientLimitsConfig {
            peer_per_second: 1,
            peer_burst: 1,
            ..ClientLimitsConfig::default()
        })
        .unwrap();
        assert!(peers.check_peer(ip("2001:db8::1")).is_ok());
        assert!(peers.check_peer(ip("2001:db8::2")).is_err());
    }
}
