//! A device's MQTT session (`VIGIL_MQTT_ADDR`): the same client
//! certificate check as the south HTTPS listener (the handshake), then a
//! CONNECT whose username is the device's registration id and whose
//! password is a device token bound to that certificate. Readings go
//! through the same pipeline as over HTTP, and are acknowledged after
//! their commit; commands are published to a subscribed device and are
//! `delivered` when it acknowledges them; answers are taken on
//! `.../commands/{id}/result`. The session ends within a quarter of a
//! second of its token being revoked or expiring, or its device revoked.

use std::{
    collections::{HashMap, HashSet},
    num::NonZeroU16,
    sync::Arc,
    time::Duration,
};

use app::types::{CommandResult, DeviceCommand, ReadingsBatch};
use bytes::Bytes;
use futures_util::{future::BoxFuture, stream::FuturesOrdered, StreamExt};
use rmqtt_codec::types::QoS;
use tokio::time::Instant;

use super::{
    sessions::SessionInfo,
    wire::{Bye, Connect, In, Taken, Wire},
    Mqtt,
};
use crate::{
    commands::CommandError,
    ingest::IngestError,
    net::{Accepted, PeerCert},
    stopping::Stopping,
    tokens::{jwt::TokenType, TokenError},
};

/// How often a session looks at its token and device again (besides the
/// wake-ups of revocations).
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Who is connected.
struct Device {
    id: i64,
    registration_id: String,
    thumbprint: String,
    token_id: String,
    expires_at: i64,
}

fn authenticate(mqtt: &Mqtt, cert: &PeerCert, c: &Connect) -> Option<Device> {
    let entry = mqtt.devices.index().get(&cert.thumbprint)?;
    let now = mqtt.tokens.clock().now();
    if !entry.usable_at(now) || c.username.as_deref() != Some(entry.registration_id.as_str()) {
        return None;
    }
    let token = std::str::from_utf8(c.password.as_deref()?).ok()?;
    let claims = mqtt.tokens.check(token, TokenType::Device).ok()?;
    let bound = claims.cnf.as_ref().map(|c| c.x5t_s256.as_str());
    if bound != Some(cert.x5t_s256.as_str()) || claims.sub != entry.id.to_string() {
        return None;
    }
    if entry.first_use_pending {
        mqtt.devices
            .used(&mqtt.tokens, entry.id, &cert.thumbprint, cert.not_after);
    }
    Some(Device {
        id: entry.id,
        registration_id: entry.registration_id,
        thumbprint: cert.thumbprint.clone(),
        token_id: claims.jti.clone(),
        expires_at: claims.exp,
    })
}

type Pending = BoxFuture<'static, (Option<NonZeroU16>, Taken)>;

pub async fn session(mqtt: Arc<Mqtt>, accepted: Accepted) {
    let Accepted {
        tls,
        peer,
        peer_cert,
        accepted,
        stopping,
    } = accepted;
    let Some(cert) = peer_cert else { return };
    let opened = tokio::select! {
        opened = tokio::time::timeout_at(
            accepted + mqtt.connect_within,
            Wire::open(tls, mqtt.max_packet),
        ) => opened,
        () = stopping.stopped() => return,
    };
    let (mut wire, connect) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "MQTT connection without a usable CONNECT");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "no CONNECT within the deadline; closing");
            return;
        }
    };
    let Some(device) = authenticate(&mqtt, &cert, &connect) else {
        crate::telemetry::refused(
            app::types::ErrorCode::TokenInvalid,
            Some(&cert.thumbprint),
            "mqtt CONNECT",
        );
        let _ = wire.connack(false, mqtt.max_packet).await;
        wire.bye(Bye::NotAuthorized).await;
        return;
    };
    if wire.connack(true, mqtt.max_packet).await.is_err() {
        return;
    }
    let registered = mqtt.sessions.register(SessionInfo {
        listener: "devices",
        token_id: device.token_id.clone(),
        device_id: Some(device.id),
        user_id: None,
        peer,
    });
    let why = run(&mqtt, &mut wire, &device, connect.keep_alive, &stopping).await;
    // Out of the registry as soon as it is over, goodbye or not.
    drop(registered);
    if let Some(why) = why {
        wire.bye(why).await;
    }
}

/// The session until it ends; `Some` when the server ends it.
async fn run<S>(
    mqtt: &Mqtt,
    wire: &mut Wire<S>,
    device: &Device,
    keep_alive: u16,
    stopping: &Stopping,
) -> Option<Bye>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let rid = &device.registration_id;
    let readings_topic = format!("vigil/devices/{rid}/readings");
    let commands_topic = format!("vigil/devices/{rid}/commands");
    let results_prefix = format!("vigil/devices/{rid}/commands/");
    let mut revocations = mqtt.tokens.revocations();
    let mut device_revocations = mqtt.devices.index().subscribe();
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut heard = Instant::now();
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    // Commands: published (packet id → command id) and not yet acknowledged.
    let mut waiter = None;
    let mut _pushing = None;
    let mut sent: HashMap<NonZeroU16, i64> = HashMap::new();
    let mut sent_ids: HashSet<i64> = HashSet::new();
    let mut next_packet_id: u16 = 0;
    loop {
        let command_queued = async {
            match waiter.as_mut() {
                Some(w) => crate::commands::Waiter::changed(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = revocations.changed() => {}
            _ = device_revocations.changed() => {}
            _ = check.tick() => {}
            done = pending.next(), if !pending.is_empty() => {
                let Some((packet_id, taken)) = done else { continue };
                if let Err(why) = wire.settle(packet_id, taken).await {
                    return why;
                }
                continue;
            }
            () = super::silence_over(keep_alive, heard) => return Some(Bye::KeepAliveTimeout),
            () = stopping.stopped() => {
                // What the client sent is answered, then the session ends.
                while let Some((packet_id, taken)) = pending.next().await {
                    if let Err(why) = wire.settle(packet_id, taken).await {
                        return why;
                    }
                }
                return Some(Bye::ShuttingDown);
            }
            () = command_queued => {
                if let Err(e) = publish_commands(mqtt, wire, &commands_topic, device.id, &mut sent, &mut sent_ids, &mut next_packet_id).await {
                    tracing::debug!(error = %e, "publishing commands over MQTT failed");
                    return None;
                }
                continue;
            }
            packet = wire.recv(), if pending.len() < mqtt.max_in_flight => {
                heard = Instant::now();
                let packet = match packet {
                    None => return None,
                    Some(Ok(p)) => p,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "MQTT packet refused; closing");
                        return Some(Bye::ProtocolError);
                    }
                };
                match packet {
                    In::Publish(p) => {
                        if p.qos == QoS::ExactlyOnce {
                            return Some(Bye::ProtocolError);
                        }
                        let packet_id = if p.qos == QoS::AtLeastOnce { p.packet_id } else { None };
                        let topic: &str = &p.topic;
                        let work: Pending = if topic == readings_topic {
                            let (pipeline, id, payload) = (mqtt.ingest.clone(), device.id, p.payload.clone());
                            Box::pin(async move { (packet_id, store_readings(pipeline, id, payload).await) })
                        } else if let Some(command_id) = result_topic(topic, &results_prefix) {
                            let (commands, id, payload) = (mqtt.commands.clone(), device.id, p.payload.clone());
                            Box::pin(async move {
                                (packet_id, answer(commands, id, command_id, payload).await)
                            })
                        } else {
                            Box::pin(std::future::ready((packet_id, Taken::NotAuthorized)))
                        };
                        pending.push_back(work);
                    }
                    In::PubAck(packet_id) => {
                        if let Some(command_id) = sent.remove(&packet_id) {
                            if let Err(e) = mqtt.commands.mark_delivered(device.id, command_id).await {
                                tracing::warn!(error = %e, "marking a command delivered failed");
                            }
                        }
                    }
                    In::Subscribe { packet_id, filters } => {
                        let granted: Vec<bool> = filters.iter().map(|f| *f == commands_topic).collect();
                        if wire.suback(packet_id, &granted).await.is_err() {
                            return None;
                        }
                        if granted.contains(&true) && waiter.is_none() {
                            waiter = Some(mqtt.commands.waiter(device.id));
                            _pushing = Some(mqtt.commands.push_to(device.id));
                            if publish_commands(mqtt, wire, &commands_topic, device.id, &mut sent, &mut sent_ids, &mut next_packet_id).await.is_err() {
                                return None;
                            }
                        }
                    }
                    In::Unsubscribe { packet_id, count } => {
                        waiter = None;
                        _pushing = None;
                        if wire.unsuback(packet_id, count).await.is_err() {
                            return None;
                        }
                    }
                    In::Ping => {
                        if wire.pong().await.is_err() {
                            return None;
                        }
                    }
                    In::Disconnect => return None,
                    In::Unexpected(what) => {
                        tracing::debug!(what, "unexpected MQTT packet; closing");
                        return Some(Bye::ProtocolError);
                    }
                }
                continue;
            }
        }
        // Woken to look at the credential.
        match mqtt.tokens.still_valid(&device.token_id, device.expires_at) {
            Err(TokenError::Revoked) => return Some(Bye::Revoked),
            Err(_) => return Some(Bye::Expired),
            Ok(()) => {}
        }
        if !mqtt
            .devices
            .index()
            .is_usable(&device.thumbprint, mqtt.tokens.clock().now())
        {
            return Some(Bye::Revoked);
        }
    }
}

/// `{prefix}{id}/result` → the command id.
fn result_topic(topic: &str, prefix: &str) -> Option<i64> {
    topic
        .strip_prefix(prefix)?
        .strip_suffix("/result")?
        .parse()
        .ok()
}

async fn store_readings(
    pipeline: crate::ingest::Pipeline,
    device_id: i64,
    payload: Bytes,
) -> Taken {
    let Ok(batch) = serde_json::from_slice::<ReadingsBatch>(&payload) else {
        return Taken::BadPayload;
    };
    match pipeline.store(device_id, batch.readings).await {
        Ok(_) => Taken::Ok,
        Err(IngestError::Invalid(_)) => Taken::BadPayload,
        Err(IngestError::RateLimited { .. }) => Taken::Quota,
        Err(IngestError::Store(e)) => {
            tracing::error!(error = %format!("{e:#}"), "storing readings from MQTT failed");
            Taken::Refused
        }
    }
}

async fn answer(
    commands: crate::commands::Commands,
    device_id: i64,
    command_id: i64,
    payload: Bytes,
) -> Taken {
    let Ok(result) = serde_json::from_slice::<CommandResult>(&payload) else {
        return Taken::BadPayload;
    };
    match commands.answer(device_id, command_id, result).await {
        Ok(_) => Taken::Ok,
        Err(CommandError::Invalid(_)) => Taken::BadPayload,
        // Another device's command is no business of this one.
        Err(CommandError::NotFound) => Taken::NotAuthorized,
        Err(CommandError::Store(e)) => {
            tracing::error!(error = %e, "storing a command's answer from MQTT failed");
            Taken::Refused
        }
        Err(_) => Taken::Refused,
    }
}

/// Publishes, at QoS 1, the device's queued commands not yet sent on this
/// session.
async fn publish_commands<S>(
    mqtt: &Mqtt,
    wire: &mut Wire<S>,
    topic: &str,
    device_id: i64,
    sent: &mut HashMap<NonZeroU16, i64>,
    sent_ids: &mut HashSet<i64>,
    next_packet_id: &mut u16,
) -> anyhow::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let queued = mqtt.commands.queued(device_id).await?;
    for c in queued {
        if !sent_ids.insert(c.id) {
            continue;
        }
        *next_packet_id = next_packet_id.wrapping_add(1).max(1);
        let packet_id = NonZeroU16::new(*next_packet_id).unwrap_or(NonZeroU16::MIN);
        let body = serde_json::to_vec(&DeviceCommand {
            id: c.id,
            name: c.name,
            payload: c.payload,
            expires_at: c.expires_at,
        })?;
        sent.insert(packet_id, c.id);
        wire.publish(topic, body.into(), Some(packet_id)).await?;
    }
    Ok(())
}
