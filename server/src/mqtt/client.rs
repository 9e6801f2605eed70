//! A client application's MQTT session (`VIGIL_MQTT_NORTH_ADDR`): TLS with
//! server authentication only, a CONNECT whose username is the user's and
//! whose password is that user's token. Any user may follow readings and
//! command statuses (all devices, or one); admins and operators send
//! commands. Messages to the client go at QoS 0. The session ends within a
//! quarter of a second of its token being revoked (logout, admin revoke,
//! the user deleted or re-roled) or expiring.

use std::{num::NonZeroU16, sync::Arc, time::Duration};

use app::types::{NewCommand, Role};
use bytes::Bytes;
use futures_util::{future::BoxFuture, stream::FuturesOrdered, StreamExt};
use rmqtt_codec::types::QoS;
use tokio::{sync::broadcast, time::Instant};

use super::{
    sessions::SessionInfo,
    wire::{Bye, Connect, In, Taken, Wire},
    Mqtt,
};
use crate::{
    commands::{Change, CommandError},
    live::LiveBatch,
    net::Accepted,
    stopping::Stopping,
    tokens::{jwt::TokenType, TokenError},
};

const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A client that does not take a message this long is cut off.
const SEND_WITHIN: Duration = Duration::from_secs(5);

struct User {
    id: i64,
    role: Role,
    token_id: String,
    expires_at: i64,
}

async fn authenticate(mqtt: &Mqtt, c: &Connect) -> Option<User> {
    let token = std::str::from_utf8(c.password.as_deref()?).ok()?;
    let claims = mqtt.tokens.check(token, TokenType::User).ok()?;
    let id: i64 = claims.sub.parse().ok()?;
    let user = crate::users::store::get(&mqtt.db, id).await.ok()??;
    if !c
        .username
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(&user.username))
    {
        return None;
    }
    Some(User {
        id,
        role: claims.role?,
        token_id: claims.jti.clone(),
        expires_at: claims.exp,
    })
}

/// What a subscription follows: every device, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Device(i64),
}

impl Scope {
    fn covers(self, device_id: i64) -> bool {
        self == Scope::All || self == Scope::Device(device_id)
    }
}

/// `vigil/devices/{+ or rid}/{rest}` → the scope, if the device exists.
fn scope(mqtt: &Mqtt, filter: &str, rest: &str) -> Option<Scope> {
    let middle = filter.strip_prefix("vigil/devices/")?.strip_suffix(rest)?;
    let middle = middle.strip_suffix('/')?;
    if middle == "+" {
        return Some(Scope::All);
    }
    mqtt.devices.index().id_of(middle).map(Scope::Device)
}

type Pending = BoxFuture<'static, (Option<NonZeroU16>, Taken)>;

pub async fn session(mqtt: Arc<Mqtt>, accepted: Accepted) {
    let Accepted {
        tls,
        peer,
        accepted,
        stopping,
        ..
    } = accepted;
    let opened = tokio::select! {
        opened = tokio::time::timeout_at(
            accepted + mqtt.connect_within,
            Wire::open(tls, mqtt.max_packet),
        ) => opened,
        () = stopping.stopped() => return,
    };
    let (mut wire, connect) = match opened {
        Ok(Ok(opened)) => opened,
        _ => return,
    };
    let Some(user) = authenticate(&mqtt, &connect).await else {
        crate::telemetry::refused(app::types::ErrorCode::TokenInvalid, None, "mqtt CONNECT");
        let _ = wire.connack(false, mqtt.max_packet).await;
        wire.bye(Bye::NotAuthorized).await;
        return;
    };
    if wire.connack(true, mqtt.max_packet).await.is_err() {
        return;
    }
    let registered = mqtt.sessions.register(SessionInfo {
        listener: "clients",
        token_id: user.token_id.clone(),
        device_id: None,
        user_id: Some(user.id),
        peer,
    });
    let why = run(&mqtt, &mut wire, &user, connect.keep_alive, &stopping).await;
    drop(registered);
    if let Some(why) = why {
        wire.bye(why).await;
    }
}

async fn run<S>(
    mqtt: &Mqtt,
    wire: &mut Wire<S>,
    user: &User,
    keep_alive: u16,
    stopping: &Stopping,
) -> Option<Bye>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut revocations = mqtt.tokens.revocations();
    let mut check = tokio::time::interval(CHECK_EVERY);
    let mut heard = Instant::now();
    let mut pending: FuturesOrdered<Pending> = FuturesOrdered::new();
    // What the client follows, and the feeds it reads them from.
    let mut readings: Vec<Scope> = Vec::new();
    let mut statuses: Vec<Scope> = Vec::new();
    let mut batches: Option<broadcast::Receiver<Arc<LiveBatch>>> = None;
    let mut changes: Option<broadcast::Receiver<Arc<Change>>> = None;
    loop {
        tokio::select! {
            _ = revocations.changed() => {}
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
            batch = async {
                match batches.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match batch {
                    Ok(batch) => {
                        for (device_id, json) in batch.readings() {
                            if !readings.iter().any(|s| s.covers(device_id)) {
                                continue;
                            }
                            let Some(rid) = mqtt.devices.index().registration_id(device_id) else { continue };
                            let topic = format!("vigil/devices/{rid}/readings");
                            let payload = with_registration_id(json, &rid);
                            if !send(wire, &topic, payload).await {
                                return None;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "an MQTT client fell behind the readings");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
                continue;
            }
            change = async {
                match changes.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match change {
                    Ok(change) => {
                        let device_id = change.command.device_id;
                        if statuses.iter().any(|s| s.covers(device_id)) {
                            let Some(rid) = mqtt.devices.index().registration_id(device_id) else { continue };
                            let topic = format!("vigil/devices/{rid}/commands/status");
                            if !send(wire, &topic, change.json.clone()).await {
                                return None;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "an MQTT client fell behind the command statuses");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
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
                        let target = scope(mqtt, &p.topic, "commands/send");
                        let work: Pending = match target {
                            Some(Scope::Device(device_id))
                                if matches!(user.role, Role::Admin | Role::Operator) =>
                            {
                                let (commands, user_id, payload) = (mqtt.commands.clone(), user.id, p.payload.clone());
                                Box::pin(async move {
                                    (packet_id, send_command(commands, device_id, user_id, payload).await)
                                })
                            }
                            _ => Box::pin(std::future::ready((packet_id, Taken::NotAuthorized))),
                        };
                        pending.push_back(work);
                    }
                    In::PubAck(_) => {}
                    In::Subscribe { packet_id, filters } => {
                        let mut granted = Vec::with_capacity(filters.len());
                        for f in &filters {
                            if let Some(s) = scope(mqtt, f, "readings") {
                                readings.push(s);
                                if batches.is_none() {
                                    batches = Some(mqtt.live.subscribe());
                                }
                                granted.push(Some(QoS::AtMostOnce));
                            } else if let Some(s) = scope(mqtt, f, "commands/status") {
                                statuses.push(s);
                                if changes.is_none() {
                                    changes = Some(mqtt.commands.changes());
                                }
                                granted.push(Some(QoS::AtMostOnce));
                            } else {
                                granted.push(None);
                            }
                        }
                        if wire.suback_qos(packet_id, &granted).await.is_err() {
                            return None;
                        }
                    }
                    In::Unsubscribe { packet_id, count } => {
                        // Unsubscribing stops everything this session follows.
                        readings.clear();
                        statuses.clear();
                        batches = None;
                        changes = None;
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
                    In::Unexpected(_) => return Some(Bye::ProtocolError),
                }
                continue;
            }
        }
        match mqtt.tokens.still_valid(&user.token_id, user.expires_at) {
            Err(TokenError::Revoked) => return Some(Bye::Revoked),
            Err(_) => return Some(Bye::Expired),
            Ok(()) => {}
        }
    }
}

/// Sends at QoS 0; `false` when the client is gone or does not read.
async fn send<S>(wire: &mut Wire<S>, topic: &str, payload: Bytes) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    matches!(
        tokio::time::timeout(SEND_WITHIN, wire.publish(topic, payload, None)).await,
        Ok(Ok(()))
    )
}

/// A live reading's JSON (`{"device_id":N,...}`) with the device's
/// registration id after its id.
fn with_registration_id(json: &[u8], rid: &str) -> Bytes {
    let rid = serde_json::to_string(rid).unwrap_or_default();
    match json.iter().position(|&b| b == b',') {
        Some(comma) => {
            let mut out = Vec::with_capacity(json.len() + rid.len() + 20);
            out.extend_from_slice(&json[..=comma]);
            out.extend_from_slice(b"\"registration_id\":");
            out.extend_from_slice(rid.as_bytes());
            out.push(b',');
            out.extend_from_slice(&json[comma + 1..]);
            out.into()
        }
        None => Bytes::copy_from_slice(json),
    }
}

async fn send_command(
    commands: crate::commands::Commands,
    device_id: i64,
    user_id: i64,
    payload: Bytes,
) -> Taken {
    let Ok(new) = serde_json::from_slice::<NewCommand>(&payload) else {
        return Taken::BadPayload;
    };
    match commands.create(device_id, user_id, new).await {
        Ok(_) => Taken::Ok,
        Err(CommandError::Invalid(_)) => Taken::BadPayload,
        Err(CommandError::TooMany(_)) => Taken::Quota,
        Err(CommandError::Store(e)) => {
            tracing::error!(error = %e, "a command sent over MQTT was not stored");
            Taken::Refused
        }
        Err(_) => Taken::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_id_joins_the_reading() {
        let out = with_registration_id(br#"{"device_id":7,"sensor":"t","value":1.0}"#, "boiler\"1");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["registration_id"], "boiler\"1");
        assert_eq!(v["device_id"], 7);
        assert_eq!(v["sensor"], "t");
    }
}
