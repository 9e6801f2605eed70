//! `last_seen` without a write per request: marks gathered in memory and
//! written every few seconds in one transaction.

use std::{collections::HashMap, sync::Mutex};

use super::store;
use crate::db::Db;

#[derive(Default)]
pub struct LastSeen {
    pending: Mutex<HashMap<i64, i64>>,
}

impl LastSeen {
    pub fn mark(&self, device_id: i64, at: i64) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = p.entry(device_id).or_insert(at);
        *slot = (*slot).max(at);
    }

    pub async fn flush(&self, db: &Db) {
        let seen: Vec<(i64, i64)> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        if seen.is_empty() {
            return;
        }
        if let Err(e) = store::touch(db, &seen).await {
            tracing::warn!(error = %e, "writing last_seen failed; will retry");
            for (id, at) in seen {
                self.mark(id, at);
            }
        }
    }
}
