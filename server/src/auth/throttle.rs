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
    failures: u32,
    since: Instant,
}

struct Counter<K> {
    max: u32,
    map: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new(max: u32) -> Self {
        Counter { max, map: Mutex::new(HashMap::new()) }
    }

    fn retry_after(&self, key: &K, window: Duration, now: Instant) -> Option<u64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.get(key)?;
        let elapsed = now.duration_since(w.since);
        (w.failures >= self.max && elapsed < window).then(|| (window - elapsed).as_secs().max(1))
    }

    fn fail(&self, key: K, window: Duration, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, w| now.duration_since(w.since) < window);
        }
        let w = map.entry(key).or_insert(Window { failures: 0, since: now });
        if now.duration_since(w.since) >= window {
            *w = Window { failures: 0, since: now };
        }
        w.failures += 1;
    }

    fn clear(&self, key: &K) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

pub struct LoginThrottle {
    window: Duration,
    users: Counter<String>,
    addrs: Counter<IpAddr>,
}

impl LoginThrottle {
    pub fn new(max_per_user: u32, max_per_addr: u32, window: Duration) -> Self {
        LoginThrottle { window, users: Counter::new(max_per_user), addrs: Counter::new(max_per_addr) }
    }

    /// `Some(seconds)` when this login must be refused without checking.
    pub fn check(&self, username: &str, addr: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let user = self.users.retry_after(&key(username), self.window, now);
        let ip = self.addrs.retry_after(&addr, self.window, now);
        user.into_iter().chain(ip).max()
    }

    pub fn failed(&self, username: &str, addr: IpAddr) {
        let now = Instant::now();
        self.users.fail(key(username), self.window, now);
        self.addrs.fail(addr, self.window, now);
    }

    /// A good password clears the username's count, not the address's: one
    /// valid account must not reset a guessing campaign from that address.
    pub fn succeeded(&self, username: &str) {
        self.users.clear(&key(username));
    }
}

fn key(username: &str) -> String {
    username.to_lowercase()
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
            assert_eq!(t.check("alice", A), None);
            t.failed("Alice", A);
        }
        assert!(t.check("alice", B).is_some());
        assert_eq!(t.check("bob", B), None);
    }

    #[test]
    fn an_address_is_throttled_across_usernames() {
        let t = LoginThrottle::new(100, 3, Duration::from_secs(60));
        for u in ["a", "b", "c"] {
            t.failed(u, A);
        }
        assert!(t.check("d", A).is_some());
        assert_eq!(t.check("d", B), None);
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        t.failed("a", A);
        t.failed("a", A);
        t.succeeded("a");
        assert_eq!(t.check("a", B), None);
        t.failed("z", A);
        assert!(t.check("q", A).is_some());
    }

    #[test]
    fn the_window_expires() {
        let t = LoginThrottle::new(1, 100, Duration::from_millis(30));
        t.failed("a", A);
        assert!(t.check("a", A).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(t.check("a", A), None);
    }
}
