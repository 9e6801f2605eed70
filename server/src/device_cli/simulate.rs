//! `vigil-device simulate`: a fleet of devices over mutual TLS, as a load
//! generator. Each device enrolls (self-signed, keys in memory), gets a
//! token, and sends batches at its rate; a progress line is printed every
//! second and a summary at the end. With `--commands` each device also
//! long-polls for commands and answers them (echo); `--send-commands R`
//! sends R commands a second across the fleet through the north API, each
//! waiting for its answer, and reports the round trips.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use app::types::{CommandResult, CommandStatus, NewCommand, ReadingIn, ReadingsBatch};

use super::{client::Device, enroll, Endpoints};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Number of devices.
    #[arg(long, default_value_t = 10)]
    pub devices: usize,
    /// Batches per second per device (0: as fast as answers come back).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Readings per batch (0: send none).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Open a new TLS connection for every request (measures handshakes).
    #[arg(long)]
    pub new_connections: bool,
    /// Prefix of the registration ids (a run number keeps them unique).
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Send readings over MQTT (QoS 1) instead of HTTPS; with `--batch 0`,
    /// only hold the MQTT sessions.
    #[arg(long)]
    pub mqtt: bool,
    /// With `--mqtt` and `--rate 0`: batches each device keeps
    /// unacknowledged (Vigil takes up to 16 per connection).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub in_flight: u16,
    /// Each device also long-polls for commands and answers them.
    #[arg(long)]
    pub commands: bool,
    /// Send this many commands per second across the devices (north API,
    /// each waiting for its answer) and report their round trips.
    #[arg(long, default_value_t = 0.0)]
    pub send_commands: f64,
}

#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    readings: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    commands_answered: AtomicU64,
    round_trips_us: Mutex<Vec<u64>>,
    commands_failed: AtomicU64,
}

impl Stats {
    /// One batch's answer: stored (how many) or refused, and its round trip.
    fn record(&self, device: usize, taken: anyhow::Result<usize>, took: Duration) {
        match taken {
            Ok(accepted) => {
                self.batches.fetch_add(1, Ordering::Relaxed);
                self.readings.fetch_add(accepted as u64, Ordering::Relaxed);
                self.latencies_us
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(took.as_micros() as u64);
            }
            Err(e) => {
                if self.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("device {device}: {e:#}");
                }
            }
        }
    }
}

pub async fn run(ep: &Endpoints, operator_token: &str, o: Options) -> anyhow::Result<()> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut devices = Vec::with_capacity(o.devices);
    let mut ids = Vec::with_capacity(o.devices);
    for i in 0..o.devices {
        let reg = format!("{}-{}-{i}", o.prefix, &run_id[..8]);
        let (cert, key, res) = enroll(ep, operator_token, &reg, None, false).await?;
        devices.push((
            ep.device_client_from_pem(&cert, &key, !o.new_connections)?,
            cert,
            key,
        ));
        ids.push(res.device.id);
    }
    let stats = Arc::new(Stats::default());
    // Every device gets its token (and its MQTT session) before any sends:
    // a thousand handshakes at once are not part of the measured run.
    let mut ready = Vec::with_capacity(devices.len());
    for (i, (device, cert, key)) in devices.into_iter().enumerate() {
        let (ep, use_mqtt) = (ep.clone(), o.mqtt);
        ready.push(tokio::spawn(async move {
            let token = device.token().await?.token;
            let mqtt = match use_mqtt {
                true => Some(super::mqtt::connect(&ep, &cert, &key, &token).await?),
                false => None,
            };
            anyhow::Ok((i, device, token, mqtt))
        }));
    }
    let mut connected = Vec::with_capacity(ready.len());
    for (i, r) in ready.into_iter().enumerate() {
        match r.await.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(d) => connected.push(d),
            Err(e) => {
                eprintln!("device {i}: {e:#}");
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    eprintln!(
        "enrolled {} devices, {} connected; sending for {} s",
        o.devices,
        connected.len(),
        o.duration
    );
    let fleet = connected.len().max(1);
    let start = Instant::now();
    let end = start + Duration::from_secs(o.duration);
    let mut tasks = Vec::new();
    for (i, device, token, mut mqtt) in connected {
        let (stats, batch, commands, in_flight) = (stats.clone(), o.batch, o.commands, o.in_flight);
        let period = (o.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / o.rate));
        tasks.push(tokio::spawn(async move {
            let answering = commands.then(|| {
                tokio::spawn(answer_commands(
                    device.clone(),
                    token.clone(),
                    end,
                    stats.clone(),
                ))
            });
            // At a fixed rate, each device starts at its own point of the
            // period, as a real fleet's clocks would: not all at once.
            let mut next =
                start + period.map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / fleet as f64));
            tokio::time::sleep_until(next.into()).await;
            let mut n = 0u64;
            let make = move |n: &mut u64| {
                let readings = (0..batch)
                    .map(|k| ReadingIn {
                        sensor: format!("s{}", k % 4),
                        value: (*n + k as u64) as f64,
                        unit: None,
                        ts: None,
                    })
                    .collect();
                *n += batch as u64;
                ReadingsBatch { readings }
            };
            // Unthrottled over MQTT: as fast as answers come back,
            // `in_flight` batches at a time.
            let windowed = batch > 0 && period.is_none() && mqtt.is_some();
            if let (Some(session), true) = (mqtt.as_mut(), windowed) {
                let sent = session
                    .send_window(
                        usize::from(in_flight),
                        end,
                        || make(&mut n),
                        |taken, took| stats.record(i, taken, took),
                    )
                    .await;
                if let Err(e) = sent {
                    stats.record(i, Err(e), Duration::ZERO);
                }
            }
            while batch > 0 && !windowed && Instant::now() < end {
                let batch_body = make(&mut n);
                let t0 = Instant::now();
                let sent = match mqtt.as_mut() {
                    Some(session) => session.send(&batch_body).await,
                    None => device.send(&token, &batch_body).await,
                };
                stats.record(i, sent, t0.elapsed());
                if let Some(p) = period {
                    next += p;
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            // A fleet that only answers commands runs until the end too.
            if let Some(answering) = answering {
                let _ = answering.await;
            }
            // One that only holds its MQTT session keeps it (pings) until the end.
            if let (Some(session), true) = (mqtt.as_mut(), batch == 0) {
                let _ = tokio::time::timeout_at(end.into(), async {
                    while session.events.poll().await.is_ok() {}
                })
                .await;
            }
        }));
    }
    let progress = {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let r = stats.readings.load(Ordering::Relaxed);
                eprint!(
                    "\r{:>4.0} s  {:>9} readings stored  {:>7} /s  {} errors   ",
                    start.elapsed().as_secs_f64(),
                    r,
                    r - last,
                    stats.errors.load(Ordering::Relaxed)
                );
                last = r;
            }
        })
    };
    if o.send_commands > 0.0 {
        // Let the devices' first long-polls arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        tasks.push(tokio::spawn(send_commands(
            ep.north_client()?,
            operator_token.to_owned(),
            ids,
            o.send_commands,
            end,
            stats.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    let secs = start.elapsed().as_secs_f64();
    let mut lat =
        std::mem::take(&mut *stats.latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let batches = stats.batches.load(Ordering::Relaxed);
    println!(
        "\ndevices {}  batch {}  {:.1} s  batches {}  readings stored {} ({:.0}/s)  requests {:.0}/s  \
         latency p50 {:.1} ms  p99 {:.1} ms  errors {}{}",
        o.devices,
        o.batch,
        secs,
        batches,
        stats.readings.load(Ordering::Relaxed),
        stats.readings.load(Ordering::Relaxed) as f64 / secs,
        batches as f64 / secs,
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        stats.errors.load(Ordering::Relaxed),
        if o.new_connections {
            "  (a new TLS connection per request)"
        } else if o.mqtt {
            "  (over MQTT, QoS 1)"
        } else {
            ""
        },
    );
    if o.commands || o.send_commands > 0.0 {
        let mut rt = std::mem::take(
            &mut *stats
                .round_trips_us
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        rt.sort_unstable();
        let at = |p: f64| {
            rt.get(((rt.len() as f64 * p) as usize).min(rt.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        println!(
            "commands answered by devices {}  sent {} ({:.1}/s)  round trip (sent → final) p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  not succeeded {}",
            stats.commands_answered.load(Ordering::Relaxed),
            rt.len(),
            rt.len() as f64 / secs,
            at(0.50),
            at(0.99),
            at(1.0),
            stats.commands_failed.load(Ordering::Relaxed),
        );
    }
    Ok(())
}

/// One device's command loop until `end`: long-poll, answer with an echo.
async fn answer_commands(device: Device, token: String, end: Instant, stats: Arc<Stats>) {
    while Instant::now() < end {
        let left = end
            .saturating_duration_since(Instant::now())
            .as_secs()
            .clamp(1, 30);
        let commands = match device.poll(&token, left).await {
            Ok(c) => c,
            Err(e) => {
                if stats.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("long-poll: {e:#}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for c in commands {
            let answer = CommandResult {
                status: CommandStatus::Succeeded,
                result: Some(serde_json::json!({ "echo": c.payload })),
            };
            match device.answer(&token, c.id, &answer).await {
                Ok(()) => {
                    stats.commands_answered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if stats.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("answer: {e:#}");
                    }
                }
            }
        }
    }
}

/// Sends `rate` commands a second, round robin over the devices, each
/// waiting (`?wait=30`) for its answer; records the round trips.
async fn send_commands(
    north: super::client::North,
    token: String,
    ids: Vec<i64>,
    rate: f64,
    end: Instant,
    stats: Arc<Stats>,
) {
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    let mut inflight = Vec::new();
    let mut i = 0usize;
    while Instant::now() < end {
        let (north, token, stats) = (north.clone(), token.clone(), stats.clone());
        let device_id = ids[i % ids.len()];
        i += 1;
        inflight.push(tokio::spawn(async move {
            let command = NewCommand {
                name: "ping".into(),
                payload: Some(serde_json::json!({ "n": i })),
                ttl_s: Some(30),
            };
            let t0 = Instant::now();
            match north
                .send_command(&token, device_id, &command, Some(30))
                .await
            {
                Ok(c) if c.status == CommandStatus::Succeeded => {
                    let us = t0.elapsed().as_micros() as u64;
                    stats
                        .round_trips_us
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(us);
                }
                Ok(_) => {
                    stats.commands_failed.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if stats.commands_failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("send command: {e:#}");
                    }
                }
            }
        }));
        next += period;
        tokio::time::sleep_until(next.into()).await;
    }
    for t in inflight {
        let _ = t.await;
    }
}
