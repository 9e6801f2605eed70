//! Login throttling. Failed attempts are counted per (username, client
//! address) and per client address within a window; past either limit that
//! address is refused (429) until the window since its first counted
//! failure has passed. Addresses are counted as `net::addr::client_key`
//! says (an IPv4-mapped address is its IPv4 address; IPv6 by /64).
//!
//! Failures for a username from everywhere only slow its logins down (a
//! short wait before the answer): anyone can send wrong passwords for
//! `admin`, and that must never lock the real administrator out from a
//! clean address.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::net::addr::client_key;

/// Entries kept per map before stale ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;
/// The wait before answering a login for a username under attack.
pub const SLOWDOWN: Duration = Duration::from_secs(1);

struct Window {
    count: u32,
    since: Instant,
    /// The refusal of this key was already written to the audit log in
    /// this window.
    reported: bool,
}

type Map<K> = HashMap<K, Window>;

fn live<'m, K: Hash + Eq>(
    map: &'m mut Map<K>,
    key: &K,
    window: Duration,
    now: Instant,
) -> Option<&'m mut Window> {
    map.get_mut(key)
        .filter(|w| now.duration_since(w.since) < window)
}

fn count<K: Hash + Eq>(map: &mut Map<K>, key: K, window: Duration, now: Instant) {
    if map.len() > SWEEP_ABOVE {
        map.retain(|_, w| now.duration_since(w.since) < window);
    }
    let w = map.entry(key).or_insert(Window {
        count: 0,
        since: now,
        reported: false,
    });
    if now.duration_since(w.since) >= window {
        *w = Window {
            count: 0,
            since: now,
            reported: false,
        };
    }
    w.count += 1;
}

/// A login that may go ahead, perhaps after a wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Proceed {
    pub wait: Option<Duration>,
}

/// A login refused without checking the password.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: u64,
    /// The first refusal of this username and address in this window: the
    /// one to write to the audit log.
    pub first: bool,
}

/// Every attempt is counted as a failure before the password is checked, in
/// the same locked step as the limit check, so that many attempts sent at
/// once cannot all pass the check; a success takes its count back.
pub struct LoginThrottle {
    window: Duration,
    max_per_user_and_addr: u32,
    max_per_addr: u32,
    maps: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    user_addr: Map<(String, IpAddr)>,
    addr: Map<IpAddr>,
    user: Map<String>,
}

impl LoginThrottle {
    pub fn new(max_per_user_and_addr: u32, max_per_addr: u32, window: Duration) -> Self {
        LoginThrottle {
            window,
            max_per_user_and_addr,
            max_per_addr,
            maps: Mutex::default(),
        }
    }

    pub fn begin(&self, username: &str, ip: IpAddr, now: Instant) -> Result<Proceed, Refused> {
        let (user, addr) = (username.to_lowercase(), client_key(ip));
        let pair = (user.clone(), addr);
        let mut guard = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let m = &mut *guard;
        let w = self.window;
        let mut refused = None;
        for (win, max) in [
            (
                live(&mut m.user_addr, &pair, w, now),
                self.max_per_user_and_addr,
            ),
            (live(&mut m.addr, &addr, w, now), self.max_per_addr),
        ] {
            if let Some(win) = win.filter(|win| win.count >= max) {
                let left = (w - now.duration_since(win.since)).as_secs().max(1);
                refused = Some(refused.map_or(left, |r: u64| r.max(left)));
            }
        }
        if let Some(retry_after) = refused {
            let first = match live(&mut m.user_addr, &pair, w, now) {
                Some(win) => !std::mem::replace(&mut win.reported, true),
                // Refused for the address alone: report once per address.
                None => live(&mut m.addr, &addr, w, now)
                    .is_some_and(|win| !std::mem::replace(&mut win.reported, true)),
            };
            return Err(Refused { retry_after, first });
        }
        let slow = live(&mut m.user, &user, w, now)
            .is_some_and(|win| win.count >= self.max_per_user_and_addr);
        count(&mut m.user_addr, pair, w, now);
        count(&mut m.addr, addr, w, now);
        count(&mut m.user, user, w, now);
        Ok(Proceed {
            wait: slow.then_some(SLOWDOWN),
        })
    }

    /// A good password clears this username's failures from this address
    /// and takes back this attempt from the address and the username,
    /// whose other failures stay: one valid account must not reset a
    /// guessing campaign.
    pub fn succeeded(&self, username: &str, ip: IpAddr) {
        let (user, addr) = (username.to_lowercase(), client_key(ip));
        let mut guard = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let m = &mut *guard;
        m.user_addr.remove(&(user.clone(), addr));
        if let Some(w) = m.addr.get_mut(&addr) {
            w.count = w.count.saturating_sub(1);
        }
        if let Some(w) = m.user.get_mut(&user) {
            w.count = w.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_username_is_refused_from_the_guessing_address_only() {
        let t = LoginThrottle::new(3, 100, MINUTE);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(t.begin("Alice", A, now).is_ok());
        }
        assert!(t.begin("alice", A, now).is_err());
        let from_b = t
            .begin("alice", B, now)
            .expect("a clean address gets through");
        assert_eq!(from_b.wait, Some(SLOWDOWN), "but slowed down");
        assert_eq!(t.begin("bob", A, now).unwrap().wait, None);
    }

    #[test]
    fn an_address_is_throttled_across_usernames() {
        let t = LoginThrottle::new(100, 3, MINUTE);
        let now = Instant::now();
        for u in ["a", "b", "c"] {
            assert!(t.begin(u, A, now).is_ok());
        }
        assert!(t.begin("d", A, now).is_err());
        assert!(t.begin("d", B, now).is_ok());
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_listener_are_told_apart() {
        let t = LoginThrottle::new(100, 2, MINUTE);
        let now = Instant::now();
        for i in 1..=20u8 {
            let mapped: IpAddr = format!("::ffff:10.0.0.{i}").parse().unwrap();
            assert!(t.begin("x", mapped, now).is_ok(), "10.0.0.{i}");
        }
    }

    #[test]
    fn attempts_in_flight_count_before_their_outcome_is_known() {
        let t = LoginThrottle::new(2, 100, MINUTE);
        let now = Instant::now();
        assert!(t.begin("a", A, now).is_ok());
        assert!(t.begin("a", A, now).is_ok());
        assert!(
            t.begin("a", A, now).is_err(),
            "a third concurrent attempt is refused"
        );
    }

    #[test]
    fn success_clears_the_pair_but_not_the_addresss_earlier_failures() {
        let t = LoginThrottle::new(2, 3, MINUTE);
        let now = Instant::now();
        t.begin("a", A, now).unwrap();
        t.begin("a", A, now).unwrap();
        t.succeeded("a", A);
        assert!(t.begin("a", A, now).is_ok());
        // A: one earlier failure kept, the success taken back, one more now.
        t.begin("z", A, now).unwrap();
        assert!(t.begin("q", A, now).is_err());
    }

    #[test]
    fn only_the_first_refusal_of_a_window_is_reported() {
        let t = LoginThrottle::new(1, 100, MINUTE);
        let now = Instant::now();
        t.begin("a", A, now).unwrap();
        assert!(t.begin("a", A, now).unwrap_err().first);
        for _ in 0..50 {
            assert!(!t.begin("a", A, now).unwrap_err().first);
        }
        let later = now + MINUTE;
        t.begin("a", A, later).unwrap();
        assert!(t.begin("a", A, later).unwrap_err().first, "a new window");
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let t = LoginThrottle::new(100, 2, MINUTE);
        let now = Instant::now();
        t.begin("a", "2001:db8::1".parse().unwrap(), now).unwrap();
        t.begin("b", "2001:db8::2".parse().unwrap(), now).unwrap();
        assert!(t
            .begin("c", "2001:db8::ffff".parse().unwrap(), now)
            .is_err());
        assert!(t
            .begin("c", "2001:db8:0:1::1".parse().unwrap(), now)
            .is_ok());
    }

    #[test]
    fn the_window_expires() {
        let t = LoginThrottle::new(1, 100, MINUTE);
        let now = Instant::now();
        t.begin("a", A, now).unwrap();
        assert!(t.begin("a", A, now + Duration::from_secs(59)).is_err());
        assert!(t.begin("a", A, now + MINUTE).is_ok());
    }
}
