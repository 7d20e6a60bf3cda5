//! The connector ⇄ cloud contract (DESIGN.md §3.3), used by both ends:
//! request and response bodies of `/api/v1` on the cloud, as JSON.
//!
//! Changing a field here changes the wire format for both programs at
//! once; the golden test at the bottom pins the shape of an event batch.

use serde::{Deserialize, Serialize};

/// Version of this contract; members of a group must share it. 2: the
/// group configuration carries the tenant's client privacy, which a
/// member must apply before it sends anything.
pub const PROTOCOL_VERSION: u32 = 2;

/// The first version that hashes client identities when told to.
pub const PRIVACY_PROTOCOL_VERSION: u32 = 2;

pub mod path {
    pub const REGISTER: &str = "/api/v1/register";
    pub const CONFIG: &str = "/api/v1/config";
    pub const CONFIG_CONTROLLERS: &str = "/api/v1/config/controllers";
    pub const CONFIG_ACCESS_POINTS: &str = "/api/v1/config/access-points";
    pub const EVENTS: &str = "/api/v1/events";
    pub const HEARTBEAT: &str = "/api/v1/heartbeat";
    pub const FIREHOSE: &str = "/api/v1/firehose";
    pub const GAPS: &str = "/api/v1/gaps";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub token: String,
    /// Stable id made at the connector's first boot.
    pub instance_id: String,
    pub hostname: String,
    /// Addresses as the connector sees them on its interfaces.
    pub addresses: Vec<String>,
    pub software_version: String,
    pub protocol_version: u32,
    /// A secret the connector made at first boot and never shows: the cloud
    /// binds the instance id to it, so knowing an instance id (it is in the
    /// AP port's certificate) is not enough to take a membership over.
    #[serde(default)]
    pub member_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub tenant_id: String,
    pub tenant_name: String,
    pub group_id: String,
    pub group_name: String,
    /// Bearer credential for every later call.
    pub credential: String,
    pub config_version: u64,
}

/// One controller of a group's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub kind: String,
    /// Which member added it, as the cloud recorded it (set by the cloud;
    /// what a member sends here is ignored).
    #[serde(default)]
    pub added_by: String,
}

/// One access point allowed on every member's AP Channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPointConfig {
    pub name: String,
    pub key_hash: String,
    /// Which member added it (set by the cloud).
    #[serde(default)]
    pub added_by: String,
}

/// The group's configuration: what every member connects to and admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub version: u64,
    pub controllers: Vec<ControllerConfig>,
    #[serde(default)]
    pub access_points: Vec<AccessPointConfig>,
    /// The tenant's client privacy (none: off).
    #[serde(default)]
    pub privacy: PrivacyConfig,
}

/// The tenant's client privacy over time: the newest generations, each
/// in force from its `from_ms` by the controllers' timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyConfig {
    pub epochs: Vec<PrivacyEpoch>,
}

/// One generation: hashed with `salt` (hex), or off when there is none.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyEpoch {
    pub generation: u32,
    pub from_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl std::fmt::Debug for PrivacyEpoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The salt is a secret: never in a log line.
        f.debug_struct("PrivacyEpoch")
            .field("generation", &self.generation)
            .field("from_ms", &self.from_ms)
            .field("hashed", &self.salt.is_some())
            .finish()
    }
}

/// A batch of events; retrying the same `batch_id` never counts twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub batch_id: String,
    pub events: Vec<WireEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    /// Hex SHA-256 dedup key (`event::dedup_key`).
    pub key: String,
    pub channel: crate::contract::event::Channel,
    /// The source's key hash.
    pub source: String,
    pub msg_type: u8,
    /// The NMSP body, base64.
    pub body: String,
    pub received_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAck {
    pub accepted: usize,
    /// Events the cloud had not seen from any member.
    pub new: usize,
    pub duplicates: usize,
    /// True when this batch id had been accepted before.
    pub replayed_batch: bool,
    /// Events refused because they are older than the dedup window: the
    /// cloud may have forgotten their key, so taking them could deliver
    /// them twice. Counted on both ends.
    #[serde(default)]
    pub too_old: usize,
    /// Events that failed the cloud's checks (a key that does not match
    /// its event, a source that is no key hash): not kept. Counted on
    /// both ends.
    #[serde(default)]
    pub failed_checks: usize,
}

/// What a member reports every few seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub hostname: String,
    pub addresses: Vec<String>,
    pub software_version: String,
    pub protocol_version: u32,
    pub controllers_active: usize,
    pub controllers_total: usize,
    /// Controllers (host:port) this member has an Active session to.
    pub active_controllers: Vec<String>,
    pub event_rate: f64,
    pub events_total: u64,
    pub spooled_events: u64,
    pub dropped_events: u64,
}

/// A member of the group as the cloud sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerState {
    pub instance_id: String,
    pub hostname: String,
    pub addresses: Vec<String>,
    /// The address the cloud saw the member's requests come from.
    pub seen_ip: String,
    pub software_version: String,
    pub protocol_version: u32,
    /// "up", "stale" or "down".
    pub state: String,
    pub last_heartbeat: i64,
    pub event_rate: f64,
    pub compatible: bool,
    pub is_self: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    pub peers: Vec<PeerState>,
    pub config_version: u64,
    /// False when members run incompatible protocol versions.
    pub group_compatible: bool,
}

/// One unique event on the firehose (one NDJSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirehoseEvent {
    /// Resume after this with `?after=<offset>`.
    pub offset: i64,
    pub group_id: String,
    pub channel: crate::contract::event::Channel,
    pub source: String,
    pub msg_type: u8,
    pub body: String,
    pub key: String,
    pub ingested_at_ms: u64,
}

/// One line of the firehose: a unique event, or the record of a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FirehoseLine {
    Gap(FirehoseGap),
    Event(FirehoseEvent),
}

impl FirehoseLine {
    pub fn offset(&self) -> i64 {
        match self {
            FirehoseLine::Gap(g) => g.offset,
            FirehoseLine::Event(e) => e.offset,
        }
    }
}

/// Events of a source that no member delivered within the grace period,
/// in the firehose at the place where the gap was found. Should a copy
/// arrive later after all, it comes as an ordinary event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirehoseGap {
    pub offset: i64,
    pub group_id: String,
    pub gap: GapRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapRecord {
    /// The controller or AP (its key hash), as in events' `source`.
    pub source: String,
    /// The missing sequence numbers, both ends included.
    pub first_sequence: i64,
    pub last_sequence: i64,
    pub missing: i64,
    /// When the cloud first saw the gap (ms since the epoch).
    pub detected_at_ms: i64,
}

/// Error bodies of the cloud API, the same shape as the connector's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::event::Channel;

    #[test]
    fn event_batch_golden_json() {
        let batch = EventBatch {
            batch_id: "b1".into(),
            events: vec![WireEvent {
                key: "ab".into(),
                channel: Channel::Controller,
                source: "cd".into(),
                msg_type: 15,
                body: "AAE=".into(),
                received_at_ms: 7,
            }],
        };
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            json,
            r#"{"batch_id":"b1","events":[{"key":"ab","channel":"controller","source":"cd","msg_type":15,"body":"AAE=","received_at_ms":7}]}"#
        );
        assert_eq!(serde_json::from_str::<EventBatch>(&json).unwrap(), batch);
    }

    #[test]
    fn config_round_trips() {
        let c = GroupConfig {
            privacy: PrivacyConfig {
                epochs: vec![PrivacyEpoch {
                    generation: 2,
                    from_ms: 5,
                    salt: Some("00ff".into()),
                }],
            },
            version: 3,
            controllers: vec![ControllerConfig {
                name: "WLC".into(),
                host: "10.0.0.1".into(),
                port: 16113,
                kind: "aireos".into(),
                added_by: "a (1234)".into(),
            }],
            access_points: vec![AccessPointConfig {
                name: "Lobby".into(),
                key_hash: "ab".repeat(32),
                added_by: String::new(),
            }],
        };
        let back: GroupConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
