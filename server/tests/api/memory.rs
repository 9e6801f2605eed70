//! The real binary runs jemalloc with the settings `main.rs` gives it: a
//! background thread that hands freed pages back to the system within a
//! second. Without it, jemalloc keeps them for ten seconds and purges only
//! when allocating again, and the RSS stays at a load's peak
//! (`bench/live.sh` measures the memory itself; a test asserts no figure).

use crate::{helpers::*, process::Running};

fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_server_purges_freed_memory_from_a_background_thread() {
    let data = tempfile::tempdir().unwrap();
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let db_url = fresh_database().await;
    let vigil = Running::start(data.path(), db_url.as_deref(), &password).await;
    // After a request, so the server has allocated and freed.
    vigil.login("admin", &password).await;
    let names = thread_names(vigil.pid());
    assert!(
        names.iter().any(|n| n.starts_with("jemalloc_bg_thd")),
        "no jemalloc background thread among {names:?}"
    );
}
