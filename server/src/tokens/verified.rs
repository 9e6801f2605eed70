//! The cache of verified tokens behind `JwtKeys::verify`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::jwt::{Claims, LEEWAY_SECS};

/// Tokens whose signature and claims already passed, keyed by the SHA-256
/// of the token: a client reusing its token (every request) costs a hash
/// and a map lookup instead of an Ed25519 verification. The caller checks
/// the time claims and the revocation list on every use.
#[derive(Default)]
pub struct VerifiedCache {
    map: RwLock<HashMap<[u8; 32], Arc<Claims>>>,
}

/// Beyond this many entries the expired ones go, then, if need be, all.
const CACHE_MAX: usize = 50_000;

impl VerifiedCache {
    pub fn get(&self, key: &[u8; 32]) -> Option<Arc<Claims>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn put(&self, key: [u8; 32], claims: Arc<Claims>, now: i64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.retain(|_, c| c.exp + LEEWAY_SECS >= now);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(key, claims);
    }
}
