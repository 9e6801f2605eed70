//! `vigil-device listen`: long-polls for the device's commands and answers
//! each one, printing a line per command. With `--exec PROGRAM` the program
//! runs with the command's JSON on stdin: exit 0 answers `succeeded` with
//! its standard output (JSON, or else the text as a JSON string), any other
//! end answers `failed` with its exit code and standard error. Without it,
//! each command is answered `succeeded` with `{"echo": payload}`. The
//! server being away is retried with backoff; a refused token is replaced.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use app::types::{CommandResult, CommandStatus, DeviceCommand};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{
    client::{Device, Refused},
    token_cache,
};

/// Seconds each long-poll waits for a command.
const POLL_WAIT_S: u64 = 30;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Of the program's output, this much at most goes into a result (which
/// may hold 16 KiB of JSON).
const MAX_OUTPUT: usize = 8 * 1024;

/// How a command is carried out.
#[derive(Debug, Clone)]
pub enum Handler {
    Echo,
    Exec(PathBuf),
}

pub async fn run(device: &Device, dir: &Path, handler: &Handler) -> anyhow::Result<()> {
    let mut backoff = Duration::from_secs(1);
    loop {
        let token = match token_cache::current(device, dir).await {
            Ok(t) => t.token,
            Err(e) => {
                eprintln!(
                    "no device token ({e:#}); retrying in {} s",
                    backoff.as_secs()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        match device.poll(&token, POLL_WAIT_S).await {
            Ok(commands) => {
                backoff = Duration::from_secs(1);
                for c in commands {
                    handle(device, &token, handler, c).await;
                }
            }
            Err(e) if token_cache::token_refused(&e) => {
                // Revoked or expired: a new token, at once. A revoked device
                // gets none, and waits out the backoff below.
                if let Err(e) = token_cache::renew(device, dir).await {
                    eprintln!("{e:#}; retrying in {} s", backoff.as_secs());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            Err(e) => {
                eprintln!("{e:#}; retrying in {} s", backoff.as_secs());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Carries out one command and answers it; prints one line.
pub async fn handle(device: &Device, token: &str, handler: &Handler, c: DeviceCommand) {
    let started = Instant::now();
    let (id, name) = (c.id, c.name.clone());
    let answer = carry_out(handler, c).await;
    let outcome = match device.answer(token, id, &answer).await {
        Ok(()) => answer.status.to_string(),
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(r) => format!("{} (answer refused: {r})", answer.status),
            None => format!("{} (answer not delivered: {e:#})", answer.status),
        },
    };
    print_line(id, &name, &outcome, started);
}

/// Carries out one command with the handler; the answer to give.
pub async fn carry_out(handler: &Handler, c: DeviceCommand) -> CommandResult {
    match handler {
        Handler::Echo => CommandResult {
            status: CommandStatus::Succeeded,
            result: Some(json!({ "echo": c.payload })),
        },
        Handler::Exec(program) => exec(program, &c).await,
    }
}

/// The one line printed per command.
pub fn print_line(id: i64, name: &str, outcome: &str, started: Instant) {
    println!(
        "{} command {id} {name}: {outcome} in {} ms",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        started.elapsed().as_millis()
    );
}

/// Runs the program on the command, within the command's time (less a
/// second to deliver the answer).
async fn exec(program: &Path, c: &DeviceCommand) -> CommandResult {
    let left = chrono::DateTime::parse_from_rfc3339(&c.expires_at)
        .map(|t| t.timestamp_millis() - chrono::Utc::now().timestamp_millis() - 1000)
        .unwrap_or(0)
        .max(1000);
    let failed = |result: Value| CommandResult {
        status: CommandStatus::Failed,
        result: Some(result),
    };
    let child = tokio::process::Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            return failed(json!({ "error": format!("cannot run {}: {e}", program.display()) }))
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let input = serde_json::to_vec(c).unwrap_or_default();
        // A program that does not read its input is its own business.
        let _ = stdin.write_all(&input).await;
    }
    let output =
        tokio::time::timeout(Duration::from_millis(left as u64), child.wait_with_output()).await;
    let output = match output {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return failed(json!({ "error": e.to_string() })),
        Err(_) => {
            return failed(json!({ "error": "the program did not finish in the command's time" }))
        }
    };
    if output.status.success() {
        CommandResult {
            status: CommandStatus::Succeeded,
            result: Some(stdout_json(&output.stdout)),
        }
    } else {
        failed(json!({
            "exit_code": output.status.code(),
            "stderr": clip(&output.stderr),
        }))
    }
}

/// The program's output as JSON when it is JSON (and small enough), else
/// as a string; nothing is `null`.
fn stdout_json(out: &[u8]) -> Value {
    let text = String::from_utf8_lossy(out);
    let text = text.trim();
    if text.is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) if text.len() <= MAX_OUTPUT => v,
        _ => Value::String(clip(text.as_bytes())),
    }
}

fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() <= MAX_OUTPUT {
        return text.to_owned();
    }
    let mut end = MAX_OUTPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_json_when_it_can_be() {
        assert_eq!(stdout_json(b"{\"ok\": 1}\n"), json!({"ok": 1}));
        assert_eq!(stdout_json(b"done\n"), json!("done"));
        assert_eq!(stdout_json(b"  \n"), Value::Null);
        let long = "é".repeat(MAX_OUTPUT);
        let clipped = clip(long.as_bytes());
        assert!(clipped.len() <= MAX_OUTPUT + '…'.len_utf8());
    }
}
