//! One MQTT connection's packets, the same for 3.1.1 and 5.0: the version
//! is read from the CONNECT (rmqtt-codec), and what differs between the
//! two (reason codes, DISCONNECT from the server) is decided here, so the
//! sessions speak in Vigil's terms.

use std::num::NonZeroU16;

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::{SinkExt, StreamExt};
use rmqtt_codec::{
    types::{Publish, QoS},
    v3, v5,
    version::{ProtocolVersion, VersionCodec},
    MqttCodec, MqttPacket,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, FramedParts};

/// What a client sent, whatever its version.
#[derive(Debug)]
pub enum In {
    Publish(Box<Publish>),
    PubAck(NonZeroU16),
    Subscribe {
        packet_id: NonZeroU16,
        filters: Vec<String>,
    },
    Unsubscribe {
        packet_id: NonZeroU16,
        count: usize,
    },
    Ping,
    Disconnect,
    /// QoS 2 flows, a second CONNECT, AUTH: not spoken here.
    Unexpected(&'static str),
}

/// The CONNECT's fields Vigil uses.
#[derive(Debug)]
pub struct Connect {
    pub username: Option<String>,
    pub password: Option<Bytes>,
    /// Seconds; 0 turns the keep-alive off.
    pub keep_alive: u16,
}

/// How a PUBLISH was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Ok,
    /// A topic this client may not publish to (5.0: 0x87).
    NotAuthorized,
    /// A payload that is not what the topic takes (5.0: 0x99).
    BadPayload,
    /// Over a quota (5.0: 0x97).
    Quota,
    /// Taken, but refused by the state of things (5.0: 0x80), e.g. the
    /// answer to a command that is already final.
    Refused,
}

/// Why the server ends a session (5.0 sends it in a DISCONNECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bye {
    /// The credential was revoked (0x98, administrative action).
    Revoked,
    /// The credential expired (0xA0, maximum connect time).
    Expired,
    /// The client broke the protocol or a rule (0x82 or 0x87).
    ProtocolError,
    NotAuthorized,
    /// Silent for longer than its keep-alive allows (0x8D).
    KeepAliveTimeout,
    /// The instance is stopping (0x8B, server shutting down).
    ShuttingDown,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("decoding: {0}")]
    Decode(#[from] rmqtt_codec::error::DecodeError),
    #[error("encoding: {0}")]
    Encode(#[from] rmqtt_codec::error::EncodeError),
    #[error("the connection closed")]
    Closed,
    #[error("the first packet was not a CONNECT")]
    NotConnect,
}

/// Bytes each way a connection's buffers start with.
const START_BUFFER: usize = 512;

pub struct Wire<S> {
    io: Framed<S, MqttCodec>,
    v5: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    /// Reads the CONNECT (any packet above `max_packet` bytes is refused).
    pub async fn open(io: S, max_packet: u32) -> Result<(Wire<S>, Connect), WireError> {
        // Small buffers to start with (the codec's default is 8 KiB each
        // way): most sessions are idle devices, and the buffers grow for
        // the ones that are not. They are set after `from_parts`, which
        // would grow smaller ones back to 8 KiB.
        let parts = FramedParts::new::<MqttPacket>(io, MqttCodec::Version(VersionCodec));
        let mut io = Framed::from_parts(parts);
        *io.read_buffer_mut() = bytes::BytesMut::with_capacity(START_BUFFER);
        *io.write_buffer_mut() = bytes::BytesMut::with_capacity(START_BUFFER);
        let version = match io.next().await {
            Some(Ok((MqttPacket::Version(v), _))) => v,
            Some(Ok(_)) => return Err(WireError::NotConnect),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(WireError::Closed),
        };
        let v5 = matches!(version, ProtocolVersion::MQTT5);
        // The codec's bound is on the remaining length; the fixed header
        // adds at most 5 bytes.
        let max = max_packet.saturating_sub(5);
        *io.codec_mut() = if v5 {
            MqttCodec::V5(v5::Codec::new(max, max_packet))
        } else {
            MqttCodec::V3(v3::Codec::new(max))
        };
        let connect = match io.next().await {
            Some(Ok((MqttPacket::V3(v3::Packet::Connect(c)), _))) => Connect {
                username: c.username.as_ref().map(|u| u.to_string()),
                password: c.password.clone(),
                keep_alive: c.keep_alive,
            },
            Some(Ok((MqttPacket::V5(v5::Packet::Connect(c)), _))) => Connect {
                username: c.username.as_ref().map(|u| u.to_string()),
                password: c.password.clone(),
                keep_alive: c.keep_alive,
            },
            Some(Ok(_)) => return Err(WireError::NotConnect),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(WireError::Closed),
        };
        Ok((Wire { io, v5 }, connect))
    }

    async fn send(&mut self, p: MqttPacket) -> Result<(), WireError> {
        Ok(self.io.send(p).await?)
    }

    pub async fn connack(&mut self, accepted: bool, max_packet: u32) -> Result<(), WireError> {
        let p = if self.v5 {
            MqttPacket::V5(v5::Packet::ConnectAck(Box::new(v5::ConnectAck {
                reason_code: if accepted {
                    v5::ConnectAckReason::Success
                } else {
                    v5::ConnectAckReason::NotAuthorized
                },
                max_packet_size: Some(max_packet),
                max_qos: QoS::AtLeastOnce,
                retain_available: false,
                wildcard_subscription_available: false,
                subscription_identifiers_available: false,
                shared_subscription_available: false,
                ..Default::default()
            })))
        } else {
            MqttPacket::V3(v3::Packet::ConnectAck(v3::ConnectAck {
                return_code: if accepted {
                    v3::ConnectAckReason::ConnectionAccepted
                } else {
                    v3::ConnectAckReason::NotAuthorized
                },
                session_present: false,
            }))
        };
        self.send(p).await
    }

    /// The next packet; `None` when the client closed the connection.
    pub async fn recv(&mut self) -> Option<Result<In, WireError>> {
        let packet = match self.io.next().await? {
            Ok((p, _)) => p,
            Err(e) => return Some(Err(e.into())),
        };
        Some(Ok(match packet {
            MqttPacket::V3(p) => match p {
                v3::Packet::Publish(p) => In::Publish(p),
                v3::Packet::PublishAck { packet_id } => In::PubAck(packet_id),
                v3::Packet::Subscribe {
                    packet_id,
                    topic_filters,
                } => In::Subscribe {
                    packet_id,
                    filters: topic_filters.iter().map(|(t, _)| t.to_string()).collect(),
                },
                v3::Packet::Unsubscribe {
                    packet_id,
                    topic_filters,
                } => In::Unsubscribe {
                    packet_id,
                    count: topic_filters.len(),
                },
                v3::Packet::PingRequest => In::Ping,
                v3::Packet::Disconnect => In::Disconnect,
                _ => In::Unexpected("a packet Vigil does not take"),
            },
            MqttPacket::V5(p) => match p {
                v5::Packet::Publish(p) => In::Publish(p),
                v5::Packet::PublishAck(a) => In::PubAck(a.packet_id),
                v5::Packet::Subscribe(s) => In::Subscribe {
                    packet_id: s.packet_id,
                    filters: s.topic_filters.iter().map(|(t, _)| t.to_string()).collect(),
                },
                v5::Packet::Unsubscribe(u) => In::Unsubscribe {
                    packet_id: u.packet_id,
                    count: u.topic_filters.len(),
                },
                v5::Packet::PingRequest => In::Ping,
                v5::Packet::Disconnect(_) => In::Disconnect,
                _ => In::Unexpected("a packet Vigil does not take"),
            },
            MqttPacket::Version(_) => In::Unexpected("a second CONNECT"),
        }))
    }

    /// Answers a QoS 1 PUBLISH. In 3.1.1 a PUBACK has no reason: the caller
    /// closes the connection instead where the contract says so.
    pub async fn puback(&mut self, packet_id: NonZeroU16, taken: Taken) -> Result<(), WireError> {
        let p = if self.v5 {
            let reason_code = match taken {
                Taken::Ok => v5::PublishAckReason::Success,
                Taken::NotAuthorized => v5::PublishAckReason::NotAuthorized,
                Taken::BadPayload => v5::PublishAckReason::PayloadFormatInvalid,
                Taken::Quota => v5::PublishAckReason::QuotaExceeded,
                Taken::Refused => v5::PublishAckReason::UnspecifiedError,
            };
            MqttPacket::V5(v5::Packet::PublishAck(v5::PublishAck {
                packet_id,
                reason_code,
                ..Default::default()
            }))
        } else {
            MqttPacket::V3(v3::Packet::PublishAck { packet_id })
        };
        self.send(p).await
    }

    /// Answers a PUBLISH once it has been taken (or not): a PUBACK for QoS 1;
    /// a 3.1.1 client, which cannot be told no, is disconnected instead.
    /// `Err` ends the session (with a reason to give, if any).
    pub async fn settle(
        &mut self,
        packet_id: Option<NonZeroU16>,
        taken: Taken,
    ) -> Result<(), Option<Bye>> {
        if !self.v5 && matches!(taken, Taken::NotAuthorized | Taken::BadPayload) {
            return Err(Some(Bye::NotAuthorized));
        }
        match packet_id {
            Some(id) => self.puback(id, taken).await.map_err(|_| None),
            None => Ok(()),
        }
    }

    /// Grants (QoS 1) or refuses each filter of a SUBSCRIBE, in order.
    pub async fn suback(
        &mut self,
        packet_id: NonZeroU16,
        granted: &[bool],
    ) -> Result<(), WireError> {
        let granted: Vec<Option<QoS>> = granted
            .iter()
            .map(|&g| g.then_some(QoS::AtLeastOnce))
            .collect();
        self.suback_qos(packet_id, &granted).await
    }

    /// Grants each filter of a SUBSCRIBE at a QoS, or refuses it (`None`).
    pub async fn suback_qos(
        &mut self,
        packet_id: NonZeroU16,
        granted: &[Option<QoS>],
    ) -> Result<(), WireError> {
        let p = if self.v5 {
            MqttPacket::V5(v5::Packet::SubscribeAck(v5::SubscribeAck {
                packet_id,
                properties: Vec::new(),
                reason_string: None,
                status: granted
                    .iter()
                    .map(|g| match g {
                        Some(QoS::AtMostOnce) => v5::SubscribeAckReason::GrantedQos0,
                        Some(_) => v5::SubscribeAckReason::GrantedQos1,
                        None => v5::SubscribeAckReason::NotAuthorized,
                    })
                    .collect(),
            }))
        } else {
            MqttPacket::V3(v3::Packet::SubscribeAck {
                packet_id,
                status: granted
                    .iter()
                    .map(|g| match g {
                        Some(qos) => v3::SubscribeReturnCode::Success(*qos),
                        None => v3::SubscribeReturnCode::Failure,
                    })
                    .collect(),
            })
        };
        self.send(p).await
    }

    pub async fn unsuback(&mut self, packet_id: NonZeroU16, count: usize) -> Result<(), WireError> {
        let p = if self.v5 {
            MqttPacket::V5(v5::Packet::UnsubscribeAck(v5::UnsubscribeAck {
                packet_id,
                properties: Vec::new(),
                reason_string: None,
                status: vec![v5::UnsubscribeAckReason::Success; count],
            }))
        } else {
            MqttPacket::V3(v3::Packet::UnsubscribeAck { packet_id })
        };
        self.send(p).await
    }

    /// Sends a message at QoS 1 (with `packet_id`) or 0.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: Bytes,
        packet_id: Option<NonZeroU16>,
    ) -> Result<(), WireError> {
        let publish = Box::new(Publish {
            dup: false,
            retain: false,
            qos: if packet_id.is_some() {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            },
            topic: ByteString::from(topic),
            packet_id,
            payload,
            properties: None,
        });
        let p = if self.v5 {
            MqttPacket::V5(v5::Packet::Publish(publish))
        } else {
            MqttPacket::V3(v3::Packet::Publish(publish))
        };
        self.send(p).await
    }

    pub async fn pong(&mut self) -> Result<(), WireError> {
        let p = if self.v5 {
            MqttPacket::V5(v5::Packet::PingResponse)
        } else {
            MqttPacket::V3(v3::Packet::PingResponse)
        };
        self.send(p).await
    }

    /// Ends the session: 5.0 says why in a DISCONNECT; 3.1.1 has no way
    /// to, and the connection just closes.
    pub async fn bye(mut self, why: Bye) {
        if self.v5 {
            let code = match why {
                Bye::Revoked => v5::DisconnectReasonCode::AdministrativeAction,
                Bye::Expired => v5::DisconnectReasonCode::MaximumConnectTime,
                Bye::ProtocolError => v5::DisconnectReasonCode::ProtocolError,
                Bye::NotAuthorized => v5::DisconnectReasonCode::NotAuthorized,
                Bye::KeepAliveTimeout => v5::DisconnectReasonCode::KeepAliveTimeout,
                Bye::ShuttingDown => v5::DisconnectReasonCode::ServerShuttingDown,
            };
            let p = MqttPacket::V5(v5::Packet::Disconnect(v5::Disconnect::new(code)));
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.io.send(p)).await;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.io.close()).await;
        // A lingering close for a client in good standing: what it sent
        // meanwhile is read and dropped until it closes too (for at most a
        // second). Closing with unread bytes would send a TCP reset, and a
        // reset can make the client lose the DISCONNECT it has not read
        // yet. A client that broke the rules gets no such wait.
        if matches!(why, Bye::Revoked | Bye::Expired | Bye::ShuttingDown) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                while let Some(Ok(_)) = self.io.next().await {}
            })
            .await;
        }
    }
}
