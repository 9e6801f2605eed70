//! Login throttling: failed attempts counted per username and per client
//! address within a window; past the limit, logins answer 429 until the
//! window since the first counted failure has passed.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept per map before stale ones are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

struct Window {
    count: u32,
    since: Instant,
}

type Map<K> = HashMap<K, Window>;

fn retry_after<K: Hash + Eq>(
    map: &Map<K>,
    key: &K,
    max: u32,
    window: Duration,
    now: Instant,
) -> Option<u64> {
    let w = map.get(key)?;
    let elapsed = now.duration_since(w.since);
    (w.count >= max && elapsed < window).then(|| (window - elapsed).as_secs().max(1))
}

fn count<K: Hash + Eq>(map: &mut Map<K>, key: K, window: Duration, now: Instant) {
    if map.len() > SWEEP_ABOVE {
        map.retain(|_, w| now.duration_since(w.since) < window);
    }
    let w = map.entry(key).or_insert(Window {
        count: 0,
        since: now,
    });
    if now.duration_since(w.since) >= window {
        *w = Window {
            count: 0,
            since: now,
        };
    }
    w.count += 1;
}

/// Every attempt is counted as a failure before the password is checked, in
/// the same locked step as the limit check, so that many attempts sent at
/// once cannot all pass the check; a success takes its count back.
pub struct LoginThrottle {
    window: Duration,
    max_per_user: u32,
    max_per_addr: u32,
    maps: Mutex<(Map<String>, Map<IpAddr>)>,
}

impl LoginThrottle {
    pub fn new(max_per_user: u32, max_per_addr: u32, window: Duration) -> Self {
        LoginThrottle {
            window,
            max_per_user,
            max_per_addr,
            maps: Mutex::new((HashMap::new(), HashMap::new())),
        }
    }

    /// `Err(seconds)` when this login must be refused without checking.
    pub fn begin(&self, username: &str, addr: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let (user, ip) = (key(username), addr_key(addr));
        let mut guard = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let (users, addrs) = &mut *guard;
        let blocked = retry_after(users, &user, self.max_per_user, self.window, now)
            .into_iter()
            .chain(retry_after(addrs, &ip, self.max_per_addr, self.window, now))
            .max();
        if let Some(secs) = blocked {
            return Err(secs);
        }
        count(users, user, self.window, now);
        count(addrs, ip, self.window, now);
        Ok(())
    }

    /// A good password clears the username's failures and takes back this
    /// attempt from the address, whose earlier failures stay: one valid
    /// account must not reset a guessing campaign from that address.
    pub fn succeeded(&self, username: &str, addr: IpAddr) {
        let mut guard = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let (users, addrs) = &mut *guard;
        users.remove(&key(username));
        if let Some(w) = addrs.get_mut(&addr_key(addr)) {
            w.count = w.count.saturating_sub(1);
        }
    }
}

fn key(username: &str) -> String {
    username.to_lowercase()
}

/// IPv6 clients are counted per /64, which one client usually holds whole.
fn addr_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn a_username_is_throttled_after_its_failures_whatever_the_address() {
        let t = LoginThrottle::new(3, 100, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.begin("Alice", A).is_ok());
        }
        assert!(t.begin("alice", B).is_err());
        assert!(t.begin("bob", B).is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_usernames() {
        let t = LoginThrottle::new(100, 3, Duration::from_secs(60));
        for u in ["a", "b", "c"] {
            assert!(t.begin(u, A).is_ok());
        }
        assert!(t.begin("d", A).is_err());
        assert!(t.begin("d", B).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_before_their_outcome_is_known() {
        let t = LoginThrottle::new(2, 100, Duration::from_secs(60));
        assert!(t.begin("a", A).is_ok());
        assert!(t.begin("a", A).is_ok());
        assert!(
            t.begin("a", A).is_err(),
            "a third concurrent attempt is refused"
        );
    }

    #[test]
    fn success_clears_the_username_but_not_the_addresss_earlier_failures() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        t.begin("a", A).unwrap();
        t.begin("a", A).unwrap();
        t.succeeded("a", A);
        assert!(t.begin("a", B).is_ok());
        // A: one earlier failure kept, the success taken back.
        t.begin("z", A).unwrap();
        t.begin("y", A).unwrap();
        assert!(t.begin("q", A).is_err());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let t = LoginThrottle::new(100, 2, Duration::from_secs(60));
        t.begin("a", "2001:db8::1".parse().unwrap()).unwrap();
        t.begin("b", "2001:db8::2".parse().unwrap()).unwrap();
        assert!(t.begin("c", "2001:db8::ffff".parse().unwrap()).is_err());
        assert!(t.begin("c", "2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_window_expires() {
        let t = LoginThrottle::new(1, 100, Duration::from_millis(30));
        t.begin("a", A).unwrap();
        assert!(t.begin("a", A).is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.begin("a", A).is_ok());
    }
}
