//! Commands: cloud-to-device actuation. An operator sends a named request
//! to one device; the device answers it. A command moves `queued` →
//! `delivered` → `succeeded` | `failed`, or ends `expired` (not answered in
//! its time) or `cancelled` (by a user, or because its device was revoked).
//!
//! The store and the state machine are here; a transport only moves
//! commands. The HTTP long-poll (`south`) is one: it waits on the device's
//! wake-up (`Commands::waiter`), takes what is queued
//! (`Commands::deliver`), and hands answers back (`Commands::answer`). Every
//! change of status is published once (`Commands::changes`): to the live
//! stream, to `?wait=` callers, and to any other transport that listens.

mod expiry;
mod routes;
mod south;
pub mod store;
mod waiters;

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use app::types::{Command, CommandResult, CommandStatus, DeviceCommand, NewCommand};
use axum::body::Bytes;
use tokio::sync::broadcast;

pub use routes::router;
pub use south::router as south_router;
pub use waiters::Waiter;

use crate::{
    audit::{Entry, Event},
    clock::Clock,
    db::{Db, Engine},
    live::LiveHub,
};
use store::{Created, Finish};
use waiters::Waiters;

/// `payload` and `result`: at most this many bytes of JSON.
pub const MAX_JSON: usize = 16 * 1024;
/// `ttl_s` bounds and default.
pub const TTL_S: std::ops::RangeInclusive<i64> = 5..=86_400;
pub const DEFAULT_TTL_S: i64 = 60;
/// `?wait=` bounds, in seconds, on both sides.
pub const MAX_WAIT_S: u64 = 60;
/// Commands one long-poll answer carries at most.
const DELIVER_AT_ONCE: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such command")]
    NotFound,
    #[error("no such device")]
    NoDevice,
    #[error("the device is revoked: it takes no commands")]
    DeviceRevoked,
    #[error("the command is already {0}")]
    Final(CommandStatus),
    #[error("the device has {0} open commands, the most allowed; wait for some to end")]
    TooMany(i64),
    #[error("command store: {0}")]
    Store(#[from] sqlx::Error),
}

/// A change of status as published: the command, and its JSON (serialized
/// once for every listener).
pub struct Change {
    pub command: Command,
    pub json: Bytes,
}

/// The commands service. Cheap to clone.
#[derive(Clone)]
pub struct Commands(Arc<Inner>);

struct Inner {
    db: Db,
    engine: Engine,
    clock: Clock,
    live: LiveHub,
    waiters: Waiters,
    /// Devices with a transport that pushes commands (an MQTT
    /// subscription), and how many: the HTTP long-poll leaves them alone.
    pushed: std::sync::Mutex<std::collections::HashMap<i64, usize>>,
    changes: broadcast::Sender<Arc<Change>>,
    /// Earliest expiry of an open command (seconds); `i64::MAX` for none.
    next_due: AtomicI64,
    max_open: i64,
}

impl Commands {
    pub fn new(db: Db, engine: Engine, clock: Clock, live: LiveHub, max_open: i64) -> Self {
        Commands(Arc::new(Inner {
            db,
            engine,
            clock,
            live,
            waiters: Waiters::default(),
            pushed: Default::default(),
            changes: broadcast::channel(1024).0,
            // Unknown until the sweeper reads it: look at once.
            next_due: AtomicI64::new(i64::MIN),
            max_open,
        }))
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Every change of status from now on.
    pub fn changes(&self) -> broadcast::Receiver<Arc<Change>> {
        self.0.changes.subscribe()
    }

    /// Wakes when a command is queued for this device.
    pub fn waiter(&self, device_id: i64) -> Waiter {
        self.0.waiters.waiter(device_id)
    }

    fn publish(&self, command: Command) {
        let json = Bytes::from(serde_json::to_vec(&command).unwrap_or_default());
        self.0
            .live
            .publish_event("commands", command.device_id, json.clone());
        let _ = self.0.changes.send(Arc::new(Change { command, json }));
    }

    /// Queues a command from a user; wakes the device's long-polls.
    pub async fn create(
        &self,
        device_id: i64,
        user_id: i64,
        new: NewCommand,
    ) -> Result<Command, CommandError> {
        let name = parse_name(&new.name)?;
        let payload = serialized("payload", &new.payload.unwrap_or_default())?;
        let ttl = new.ttl_s.unwrap_or(DEFAULT_TTL_S);
        if !TTL_S.contains(&ttl) {
            return Err(CommandError::Invalid(format!(
                "ttl_s must be between {} and {}",
                TTL_S.start(),
                TTL_S.end()
            )));
        }
        let open = store::open_count(&self.0.db, device_id).await?;
        if open >= self.0.max_open {
            return Err(CommandError::TooMany(open));
        }
        let now = self.0.clock.now();
        let c = store::NewCommand {
            device_id,
            name,
            payload: &payload,
            created_by: user_id,
            expires_at: now + ttl,
        };
        let audit = |c: &Command| {
            entry(Event::CommandSent, c)
                .actor(format!("user:{user_id}"))
                .detail(format!("command {} {} (ttl {ttl} s)", c.id, c.name))
        };
        let command = match store::insert(&self.0.db, self.0.engine, &c, now, audit).await? {
            Created::Command(c) => c,
            Created::NoDevice => return Err(CommandError::NoDevice),
            Created::DeviceRevoked => return Err(CommandError::DeviceRevoked),
        };
        self.0.next_due.fetch_min(c.expires_at, Ordering::Relaxed);
        self.publish(command.clone());
        self.0.waiters.wake(device_id);
        Ok(command)
    }

    pub async fn get(&self, id: i64) -> Result<Command, CommandError> {
        store::get(&self.0.db, id)
            .await?
            .ok_or(CommandError::NotFound)
    }

    pub async fn list(
        &self,
        device_id: i64,
        status: Option<CommandStatus>,
        limit: i64,
    ) -> Result<Vec<Command>, CommandError> {
        if !crate::devices::store::exists(&self.0.db, device_id).await? {
            return Err(CommandError::NoDevice);
        }
        Ok(store::list(&self.0.db, device_id, status, limit).await?)
    }

    /// A user cancels an open command.
    pub async fn cancel(&self, id: i64, user_id: i64) -> Result<Command, CommandError> {
        let f = Finish {
            id,
            status: CommandStatus::Cancelled,
            result: None,
            device_id: None,
        };
        let audit = |c: &Command| {
            entry(Event::CommandCancelled, c)
                .actor(format!("user:{user_id}"))
                .detail(format!("command {} {}", c.id, c.name))
        };
        self.finish(f, audit).await
    }

    /// The device's queued commands, now `delivered` (oldest first).
    pub async fn deliver(&self, device_id: i64) -> Result<Vec<DeviceCommand>, CommandError> {
        if self.is_pushed(device_id) {
            // Its MQTT session takes them; one transport per command.
            return Ok(Vec::new());
        }
        let now = self.0.clock.now();
        let taken = store::deliver(&self.0.db, device_id, now, DELIVER_AT_ONCE).await?;
        let out = taken
            .iter()
            .map(|c| DeviceCommand {
                id: c.id,
                name: c.name.clone(),
                payload: c.payload.clone(),
                expires_at: c.expires_at.clone(),
            })
            .collect();
        for c in taken {
            self.publish(c);
        }
        Ok(out)
    }

    /// A transport that pushes the device's commands (an MQTT
    /// subscription) from now until the guard is dropped; meanwhile the HTTP
    /// long-poll hands it none.
    pub fn push_to(&self, device_id: i64) -> Pushed {
        *self
            .0
            .pushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(device_id)
            .or_insert(0) += 1;
        Pushed {
            commands: self.clone(),
            device_id,
        }
    }

    fn is_pushed(&self, device_id: i64) -> bool {
        self.0
            .pushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&device_id)
    }

    /// The device's queued commands, left queued (oldest first): for a
    /// transport that marks each delivered when the device acknowledges it.
    pub async fn queued(&self, device_id: i64) -> Result<Vec<Command>, CommandError> {
        let now = self.0.clock.now();
        Ok(store::queued(&self.0.db, device_id, now, DELIVER_AT_ONCE).await?)
    }

    /// The device acknowledged a command: `delivered` (if still queued).
    pub async fn mark_delivered(&self, device_id: i64, id: i64) -> Result<(), CommandError> {
        let now = self.0.clock.now();
        if let Some(c) = store::mark_delivered(&self.0.db, device_id, id, now).await? {
            self.publish(c);
        }
        Ok(())
    }

    /// The device answers one of its commands.
    pub async fn answer(
        &self,
        device_id: i64,
        id: i64,
        answer: CommandResult,
    ) -> Result<Command, CommandError> {
        if !matches!(
            answer.status,
            CommandStatus::Succeeded | CommandStatus::Failed
        ) {
            return Err(CommandError::Invalid(
                "status must be succeeded or failed".into(),
            ));
        }
        let result = answer
            .result
            .as_ref()
            .map(|r| serialized("result", r))
            .transpose()?;
        let f = Finish {
            id,
            status: answer.status,
            result: result.as_deref(),
            device_id: Some(device_id),
        };
        let audit = |c: &Command| {
            entry(Event::CommandAnswered, c)
                .actor(format!("device:{device_id}"))
                .detail(format!("command {} {} {}", c.id, c.name, c.status))
        };
        // Another device's command is unknown to this one (404).
        self.finish(f, audit).await
    }

    /// A final change, or why there is none: unknown (or another
    /// device's), already final, or past its time (expired now, if the
    /// sweeper has not got to it yet).
    async fn finish(
        &self,
        f: Finish<'_>,
        audit: impl FnOnce(&Command) -> Entry,
    ) -> Result<Command, CommandError> {
        let now = self.0.clock.now();
        if let Some(c) = store::finish(&self.0.db, &f, now, audit).await? {
            self.publish(c.clone());
            return Ok(c);
        }
        let current = store::get(&self.0.db, f.id)
            .await?
            .filter(|c| f.device_id.is_none_or(|d| d == c.device_id))
            .ok_or(CommandError::NotFound)?;
        if current.status.is_final() {
            return Err(CommandError::Final(current.status));
        }
        // Open but past its time: the sweeper's work, done now.
        self.expire_due().await?;
        Err(CommandError::Final(CommandStatus::Expired))
    }

    /// Open commands past their time become `expired`.
    pub async fn expire_due(&self) -> Result<(), CommandError> {
        let now = self.0.clock.now();
        let audit = |c: &Command| {
            entry(Event::CommandExpired, c).detail(format!("command {} {}", c.id, c.name))
        };
        for c in store::expire_due(&self.0.db, now, audit).await? {
            self.publish(c);
        }
        let next = store::next_expiry(&self.0.db).await?.unwrap_or(i64::MAX);
        self.0.next_due.store(next, Ordering::Relaxed);
        Ok(())
    }

    /// Open commands of revoked devices become `cancelled`.
    pub async fn cancel_for_revoked_devices(&self) -> Result<(), CommandError> {
        let now = self.0.clock.now();
        let audit = |c: &Command| {
            entry(Event::CommandCancelled, c)
                .detail(format!("command {} {}: device revoked", c.id, c.name))
        };
        for c in store::cancel_for_revoked_devices(&self.0.db, now, audit).await? {
            self.publish(c);
        }
        Ok(())
    }

    /// A command created or changed by another instance (the change
    /// feed): told here as if it had changed here — to the live streams,
    /// the waiting senders and MQTT subscribers, and, when it is queued, to
    /// its device's long-polls and MQTT session on this instance.
    pub async fn changed_elsewhere(&self, id: i64) -> Result<(), CommandError> {
        let Some(command) = store::get(&self.0.db, id).await? else {
            return Ok(());
        };
        let (device_id, queued) = (command.device_id, command.status == CommandStatus::Queued);
        self.publish(command);
        if queued {
            self.0.waiters.wake(device_id);
        }
        Ok(())
    }

    /// Holds until the command is final, `wait` passes or the instance
    /// stops; the command as it then is.
    pub async fn wait_final(
        &self,
        command: Command,
        wait: Duration,
        stopping: &crate::stopping::Stopping,
    ) -> Command {
        let mut changes = self.changes();
        // A change published before the subscription is in the store.
        let mut current = match store::get(&self.0.db, command.id).await {
            Ok(Some(c)) => c,
            _ => command,
        };
        let deadline = tokio::time::Instant::now() + wait;
        while !current.status.is_final() {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(ch) if ch.command.id == current.id => current = ch.command.clone(),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Ok(Some(c)) = store::get(&self.0.db, current.id).await {
                            current = c;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                () = stopping.stopped() => break,
            }
        }
        current
    }

    /// Whether the sweeper has work: an open command's time is up.
    fn due(&self) -> bool {
        self.0.clock.now() >= self.0.next_due.load(Ordering::Relaxed)
    }
}

/// A pushing transport's hold on its device (`Commands::push_to`).
pub struct Pushed {
    commands: Commands,
    device_id: i64,
}

impl Drop for Pushed {
    fn drop(&mut self) {
        let mut pushed = self
            .commands
            .0
            .pushed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = pushed.get_mut(&self.device_id) {
            *n -= 1;
            if *n == 0 {
                pushed.remove(&self.device_id);
            }
        }
    }
}

fn entry(event: Event, c: &Command) -> Entry {
    Entry::new(event).subject(format!("device:{}", c.device_id))
}

/// 1–64 of `A-Z a-z 0-9 _ . : -`.
pub fn parse_name(s: &str) -> Result<&str, CommandError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
    ok.then_some(s).ok_or_else(|| {
        CommandError::Invalid("name must be 1-64 characters of letters, digits and _ . : -".into())
    })
}

/// JSON text of at most `MAX_JSON` bytes.
fn serialized(what: &str, v: &serde_json::Value) -> Result<String, CommandError> {
    let text = serde_json::to_string(v).map_err(|e| CommandError::Invalid(e.to_string()))?;
    if text.len() > MAX_JSON {
        return Err(CommandError::Invalid(format!(
            "{what} is {} bytes of JSON; at most {MAX_JSON} are allowed",
            text.len()
        )));
    }
    Ok(text)
}

pub use expiry::spawn as spawn_sweeper;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(parse_name("reboot").is_ok());
        assert!(parse_name("fw.update:v2-now_1").is_ok());
        assert!(parse_name(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "é", "x/y", &"a".repeat(65)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_over_16_kib_is_refused() {
        let ok = serde_json::Value::String("x".repeat(MAX_JSON - 2));
        assert_eq!(serialized("payload", &ok).unwrap().len(), MAX_JSON);
        let big = serde_json::Value::String("x".repeat(MAX_JSON - 1));
        assert!(serialized("payload", &big).is_err());
    }
}
