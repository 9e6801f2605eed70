//! Benchmarks that need a client of their own: `revocation-bench` (from a
//! revocation's answer to the MQTT session's close), `mqtt-idle`
//! (thousands of silent sessions held, without a client library's buffers
//! for each), `spread-bench`, `live-latency`, and `register-bench`
//! (zero-touch registrations through an enrollment group).

use std::time::Duration;

use anyhow::{bail, Context};

use super::{
    client::Endpoints,
    mqtt::{connect, tls},
};

/// `vigil-device revocation-bench`: the time from each revocation's 204 to
/// the MQTT session's end, over N devices.
pub async fn revocation_bench(
    ep: &Endpoints,
    operator_token: &str,
    n: usize,
) -> anyhow::Result<()> {
    let north = ep.north_client()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        let rid = format!("revbench-{}-{i}", &run[..8]);
        let (cert, key, res) = super::enroll(ep, operator_token, &rid, None, false).await?;
        let device = ep.device_client_from_pem(&cert, &key, true)?;
        let token = device.token().await?;
        sessions.push((res.device.id, connect(ep, &cert, &key, &token.token).await?));
    }
    eprintln!("{n} MQTT sessions open; revoking one at a time");
    let mut took = Vec::with_capacity(n);
    for (id, mut session) in sessions {
        // Drain what is pending (pings), then revoke.
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(5), session.events.poll()).await
        {}
        north.revoke_device_tokens(operator_token, id).await?;
        let revoked = std::time::Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while session.events.poll().await.is_ok() {}
        })
        .await;
        if ended.is_err() {
            bail!("device {id}: the session was still open 5 s after its revocation");
        }
        took.push(revoked.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "revocations {}  revocation answered → session closed: {}",
        took.len(),
        spread(&mut took)
    );
    Ok(())
}

/// `vigil-device spread-bench`: with two instances on one database, the
/// time from each logout's 204 on this one (`VIGIL_NORTH_URL`) to the
/// token's refusal on `other`, over N logouts of a user it creates
/// (needs an admin's VIGIL_TOKEN).
pub async fn spread_bench(
    ep: &Endpoints,
    admin_token: &str,
    other: &str,
    n: usize,
) -> anyhow::Result<()> {
    let (here, there) = (ep.north_client()?, ep.north_client_at(other)?);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let username = format!("spread-{}", &run[..8]);
    let password = format!("pw-{run}");
    here.create_user(admin_token, &username, &password, "viewer")
        .await?;
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let token = here.login(&username, &password).await?;
        // Accepted there first (and in its cache of verified tokens).
        let accepted = tokio::time::timeout(Duration::from_secs(5), async {
            while there.me_status(&token).await? != 200 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            anyhow::Ok(())
        })
        .await;
        if !matches!(accepted, Ok(Ok(()))) {
            bail!("logout {i}: the token was not accepted by the other instance");
        }
        here.logout(&token).await?;
        let answered = std::time::Instant::now();
        let refused = tokio::time::timeout(Duration::from_secs(5), async {
            while there.me_status(&token).await? != 401 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            anyhow::Ok(())
        })
        .await;
        if !matches!(refused, Ok(Ok(()))) {
            bail!("logout {i}: still accepted by the other instance after 5 s");
        }
        took.push(answered.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "logouts {}  answered here → refused there: {}",
        took.len(),
        spread(&mut took)
    );
    Ok(())
}

/// A 3.1.1 CONNECT (clean session, no keep-alive) with a username and a
/// password, by hand: the idle benchmark holds thousands of these
/// connections, and needs no client library's buffers for them.
fn connect_packet(username: &str, password: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0b1100_0010, 0, 0];
    for field in ["idle", username, password] {
        body.extend((field.len() as u16).to_be_bytes());
        body.extend(field.as_bytes());
    }
    let mut packet = vec![0x10];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend(body);
    packet
}

/// `vigil-device mqtt-idle`: enrolls N devices (and prints `enrolled N`
/// when done), waits 5 s so that the server's memory can be read without
/// sessions, then holds one accepted MQTT session for each, silent, for
/// `hold` seconds (`held N` once all are open).
pub async fn hold_idle(
    ep: &Endpoints,
    operator_token: &str,
    n: usize,
    hold: u64,
) -> anyhow::Result<()> {
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run = uuid::Uuid::new_v4().simple().to_string();
    let addr: std::net::SocketAddr = ep.mqtt_addr.parse().context("--mqtt-addr")?;
    let name = rustls_pki_types::ServerName::try_from(addr.ip().to_string())?;
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        let rid = format!("idle-{}-{i}", &run[..8]);
        let (cert, key, _) = super::enroll(ep, operator_token, &rid, None, false).await?;
        let token = ep
            .device_client_from_pem(&cert, &key, false)?
            .token()
            .await?;
        devices.push((rid, tls(ep, &cert, &key)?, token.token));
        if (i + 1) % 1000 == 0 {
            eprintln!("{} devices enrolled", i + 1);
        }
    }
    println!("enrolled {n}");
    std::io::stdout().flush()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut held = Vec::with_capacity(n);
    for (i, (rid, config, token)) in devices.into_iter().enumerate() {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut stream = tokio_rustls::TlsConnector::from(config)
            .connect(name.clone(), tcp)
            .await?;
        stream.write_all(&connect_packet(&rid, &token)).await?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await?;
        if connack != [0x20, 2, 0, 0] {
            bail!("device {i}: CONNACK {connack:?}");
        }
        held.push(stream);
        if (i + 1) % 1000 == 0 {
            eprintln!("{} sessions held", i + 1);
        }
    }
    println!("held {} MQTT sessions", held.len());
    std::io::stdout().flush()?;
    tokio::time::sleep(Duration::from_secs(hold)).await;
    Ok(())
}

/// `vigil-device live-latency`: follows the live stream for `seconds` from
/// its first reading and
/// reports, over every reading received, the time from its `ts` to its
/// arrival here. Readings sent without a `ts` carry their arrival time at
/// the instance that stored them, so on another instance's stream this is
/// the time from arrival there (commit included) to delivery here.
pub async fn live_latency(ep: &Endpoints, token: &str, seconds: u64) -> anyhow::Result<()> {
    let mut res = ep.north_client()?.live(token).await?;
    // The time counts from the first reading (the sender may be enrolling
    // its devices first), waiting at most ten minutes for it.
    let mut until = tokio::time::Instant::now() + Duration::from_secs(600);
    let mut took: Vec<f64> = Vec::new();
    let mut pending = String::new();
    let mut counting = false;
    while let Ok(chunk) = tokio::time::timeout_at(until, res.chunk()).await {
        if !counting && !took.is_empty() {
            counting = true;
            until = tokio::time::Instant::now() + Duration::from_secs(seconds);
        }
        let Some(chunk) = chunk? else {
            bail!("the live stream ended");
        };
        let now = chrono::Utc::now();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        // Whole events only: the rest waits for the next chunk.
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if !event.contains("event: readings") {
                continue;
            }
            for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                let readings: Vec<app::types::LiveReading> =
                    serde_json::from_str(data.trim()).context("a readings event")?;
                for r in readings {
                    let ts = chrono::DateTime::parse_from_rfc3339(&r.ts)?;
                    let ms = (now - ts.with_timezone(&chrono::Utc)).num_microseconds();
                    took.push(ms.unwrap_or(i64::MAX) as f64 / 1000.0);
                }
            }
        }
    }
    if took.is_empty() {
        bail!("no reading came in {seconds} s");
    }
    println!(
        "readings {} ({:.0}/s)  ts → here: {}",
        took.len(),
        took.len() as f64 / seconds as f64,
        spread(&mut took)
    );
    Ok(())
}

/// `p50 … ms  p99 … ms  max … ms` of times in milliseconds (not empty).
fn spread(ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    format!(
        "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// `vigil-device register-bench`: N devices, their keys and certificates
/// made beforehand (signed by the group's CA), register through
/// `POST /device/v1/register` with `concurrency` at once, each over a new
/// mutual-TLS connection, as a factory line would. Registrations per second
/// and the latency of each (handshake included).
pub async fn register_bench(
    ep: &Endpoints,
    ca_cert: &std::path::Path,
    ca_key: &std::path::Path,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    use futures_util::{stream, StreamExt};
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        let rid = format!("regbench-{}-{i}", &run[..8]);
        devices.push(super::group_certificate(ca_cert, ca_key, &rid, 30)?);
    }
    eprintln!("{n} device certificates made; registering, {concurrency} at once");
    let started = std::time::Instant::now();
    let results: Vec<anyhow::Result<f64>> = stream::iter(devices)
        .map(|(cert, key)| async move {
            let t = std::time::Instant::now();
            let device = ep.device_client_from_pem(&cert, &key, false)?;
            let (_, created) = device.register().await?;
            if !created {
                bail!("a new certificate was answered as registered before");
            }
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut took = Vec::with_capacity(n);
    let mut failed = 0;
    for r in results {
        match r {
            Ok(ms) => took.push(ms),
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("first failure: {e:#}");
                }
            }
        }
    }
    if took.is_empty() {
        bail!("no registration succeeded");
    }
    println!(
        "registrations {}  failed {failed}  in {elapsed:.2} s: {:.0}/s  each: {}",
        took.len(),
        took.len() as f64 / elapsed,
        spread(&mut took)
    );
    Ok(())
}
