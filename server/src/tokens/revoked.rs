//! Revoked, unexpired token ids held in memory, so the gateway refuses a
//! revoked token without a database round-trip.

use std::{collections::HashMap, sync::RwLock};

use tokio::sync::watch;

use super::jwt::LEEWAY_SECS;

/// A token on the revocation list, as the registry returns it: its id, and
/// its expiry, after which its own `exp` refuses it and the entry can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    pub token_id: String,
    pub expires_at: i64,
}

pub struct RevokedSet {
    ids: RwLock<HashMap<String, i64>>,
    /// Bumped at each addition: open sessions look at their token again.
    added: watch::Sender<u64>,
}

impl Default for RevokedSet {
    fn default() -> Self {
        RevokedSet {
            ids: RwLock::default(),
            added: watch::channel(0).0,
        }
    }
}

impl RevokedSet {
    pub fn contains(&self, token_id: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(token_id)
    }

    pub fn extend(&self, tokens: impl IntoIterator<Item = RevokedToken>) {
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tokens.into_iter().map(|t| (t.token_id, t.expires_at)));
        self.added.send_modify(|n| *n += 1);
    }

    /// Changes each time tokens are added.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.added.subscribe()
    }

    /// Tokens past `exp` and its leeway are refused by their `exp`; they
    /// need no entry here.
    pub fn prune(&self, now: i64) {
        let cutoff = still_accepted_since(now);
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, exp| *exp >= cutoff);
    }

    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The oldest `exp` the gateway can still accept at `now` (leeway).
pub fn still_accepted_since(now: i64) -> i64 {
    now - LEEWAY_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, exp: i64) -> RevokedToken {
        RevokedToken {
            token_id: id.into(),
            expires_at: exp,
        }
    }

    #[test]
    fn pruning_drops_only_expired_entries() {
        let s = RevokedSet::default();
        s.extend([t("old", 10), t("in-leeway", 49), t("live", 100)]);
        s.prune(50);
        assert!(!s.contains("old"));
        assert!(
            s.contains("in-leeway"),
            "still accepted by exp + leeway, so still refused here"
        );
        assert!(s.contains("live"));
    }
}
