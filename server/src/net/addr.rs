//! Client addresses as Vigil counts them: an IPv4 address (an IPv4-mapped
//! IPv6 address is that IPv4 address), or an IPv6 /64, which one client
//! usually holds whole. Connection caps and login throttling share this.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex},
};

/// The address a client is counted as.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Open connections per client address, capped.
#[derive(Clone)]
pub struct PerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    pub fn new(max: usize) -> Self {
        PerAddress {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` at the cap. The
    /// slot is given back when dropped.
    pub fn admit(&self, ip: IpAddr) -> Option<AddressSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            key,
            open: self.open.clone(),
        })
    }
}

pub struct AddressSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_ipv4_and_ipv6_counts_by_64() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let other: IpAddr = "::ffff:192.0.2.8".parse().unwrap();
        assert_ne!(client_key(mapped), client_key(other));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
    }

    #[test]
    fn an_address_is_held_to_its_cap_and_gets_slots_back() {
        let caps = PerAddress::new(2);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let (a, b) = (caps.admit(ip), caps.admit(ip));
        assert!(a.is_some() && b.is_some());
        assert!(caps.admit(ip).is_none());
        assert!(caps.admit("198.51.100.2".parse().unwrap()).is_some());
        drop(a);
        assert!(caps.admit(ip).is_some());
    }
}
