//! The open-file limit: raised to its hard limit at start, then shared out
//! so that a flood on one listener can never take the descriptors another
//! listener, the database or the data files need.

/// Descriptors kept for the database pool, the data files, the PKI and the
/// process itself, outside every listener's share.
const RESERVED: u64 = 128;

/// Raises the soft open-file limit to the hard one; returns the limit now
/// in force.
pub fn raise() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Each of `listeners` listeners' share of `limit` descriptors.
pub fn share(limit: u64, listeners: u64) -> usize {
    let per = limit.saturating_sub(RESERVED) / listeners.max(1);
    usize::try_from(per.max(16)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_leave_the_reserve_alone() {
        assert_eq!(super::share(1024, 2), 448);
        assert_eq!(super::share(1_048_576, 2), 524_224);
        assert_eq!(super::share(100, 2), 16, "a floor, whatever the limit");
    }
}
