//! Revoked, unexpired token ids held in memory for the gateway.

use std::{collections::HashMap, sync::RwLock};

#[derive(Default)]
pub struct RevokedSet {
    ids: RwLock<HashMap<String, i64>>,
}

impl RevokedSet {
    pub fn contains(&self, token_id: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(token_id)
    }

    pub fn insert(&self, token_id: String, expires_at: i64) {
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token_id, expires_at);
    }

    pub fn extend(&self, entries: impl IntoIterator<Item = (String, i64)>) {
        self.ids
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(entries);
    }

    /// Tokens past `exp` and its leeway are refused by their `exp`; they
    /// need no entry here.
    pub fn prune(&self, now: i64) {
        let cutoff = crate::tokens::store::still_accepted_since(now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_drops_only_expired_entries() {
        let s = RevokedSet::default();
        s.insert("old".into(), 10);
        s.insert("in-leeway".into(), 49);
        s.insert("live".into(), 100);
        s.prune(50);
        assert!(!s.contains("old"));
        assert!(
            s.contains("in-leeway"),
            "still accepted by exp + leeway, so still refused here"
        );
        assert!(s.contains("live"));
    }
}
