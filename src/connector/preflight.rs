//! The pre-flight check of one controller: the steps a session takes —
//! name resolution, TCP, TLS and the controller's key, authorisation,
//! subscription, first data — run once, each reported with its result and,
//! where one fails, the fix. It uses a session of its own: the live
//! session's counters, pin and queue are not touched.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::connector::appliance::Appliance;
use crate::connector::controller_session::{
    ControllerSession, Secured, SessionError, SessionTiming, capabilities, resolve, subscribe,
};
use crate::connector::controllers::Controller;
use crate::connector::stats::LinkStats;
use crate::contract::controller::ControllerKind;
use crate::nmsp::Message;
use crate::nmsp::queue::EventQueue;

/// How long the check waits for the controller's first notification.
const FIRST_DATA: Duration = Duration::from_secs(10);

/// One step and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

/// The steps run, in order, up to the first that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub passed: bool,
    pub steps: Vec<Step>,
}

impl Check {
    /// The step that failed, if one did.
    pub fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }
}

/// What the check dials, as whom, and the type of controller (for the
/// command that authorises this connector on it).
pub struct Target<'a> {
    pub appliance: &'a Appliance,
    pub source: Option<std::net::IpAddr>,
    pub host: String,
    pub port: u16,
    pub pin: Option<String>,
    pub kind: ControllerKind,
    pub timing: SessionTiming,
}

impl<'a> Target<'a> {
    /// The check of a stored controller, dialled as sessions dial.
    pub fn of(
        appliance: &'a Appliance,
        controller: &Controller,
        source: Option<std::net::IpAddr>,
        timing: SessionTiming,
    ) -> Target<'a> {
        Target {
            appliance,
            source,
            host: controller.host.clone(),
            port: controller.port,
            pin: controller.cert_pin.clone(),
            kind: controller.kind,
            timing,
        }
    }
}

pub async fn run(t: Target<'_>) -> Check {
    let mut steps = Vec::new();
    let passed = steps_of(&t, &mut steps).await.is_some();
    Check { passed, steps }
}

fn ok(steps: &mut Vec<Step>, name: &'static str, detail: String) -> Option<()> {
    steps.push(Step {
        name,
        ok: true,
        detail,
        fix: None,
    });
    Some(())
}

fn fail(steps: &mut Vec<Step>, name: &'static str, detail: String, fix: String) -> Option<()> {
    steps.push(Step {
        name,
        ok: false,
        detail,
        fix: Some(fix),
    });
    None
}

async fn steps_of(t: &Target<'_>, steps: &mut Vec<Step>) -> Option<()> {
    let port = t.port;
    let addr = match resolve(&t.host, port).await {
        Ok(a) => a,
        Err(e) => {
            return fail(
                steps,
                "Name resolution",
                e.to_string(),
                "Check the host name, or enter the controller's IP address.".into(),
            );
        }
    };
    ok(
        steps,
        "Name resolution",
        format!("{} is {}", t.host, addr.ip()),
    )?;
    // The controller knows this connector by the MAC of the interface
    // that routes to it: the command to paste names that one.
    let auth_command = t
        .appliance
        .auth_command(t.kind, &t.appliance.mac_towards(addr.ip()));

    let (events, _rx) = EventQueue::new(1 << 20, 1 << 20);
    let session = ControllerSession {
        source: t.source,
        host: t.host.clone(),
        port,
        pin: t.pin.clone(),
        identity: Arc::new(t.appliance.nmsp.current().identity.clone()),
        timing: t.timing,
        stats: Arc::new(LinkStats::default()),
        events: events.for_source(),
        cancel: CancellationToken::new(),
    };
    // The same steps a session takes, one at a time on one connection.
    let tcp = match session.tcp_to(addr).await {
        Ok(tcp) => tcp,
        Err(e) => return fail(steps, "TCP", format!("{addr}: {e}"), tcp_fix(port)),
    };
    ok(steps, "TCP", format!("port {port} answers"))?;

    let Secured {
        mut conn,
        key_hash: key,
        negotiated,
    } = match session.tls(tcp).await {
        Ok(c) => c,
        Err(SessionError::CertChanged { observed }) => {
            return fail(
                steps,
                "TLS and the controller's key",
                format!(
                    "the controller presented key {observed}, not the one pinned ({})",
                    t.pin.as_deref().unwrap_or("-")
                ),
                "If the controller was replaced or re-keyed on purpose, accept its new key on \
                 this page; otherwise something else answers at this address."
                    .into(),
            );
        }
        Err(SessionError::Unauthorized(e)) => return refused(&auth_command, steps, e),
        Err(e) => {
            return fail(
                steps,
                "TLS and the controller's key",
                e.to_string(),
                "Check that this address is the controller's NMSP port (16113) and that \
                 NMSP is enabled on it."
                    .into(),
            );
        }
    };
    let pinned = match &t.pin {
        Some(_) => "matches the pinned key",
        None => "first contact: it will be pinned",
    };
    ok(
        steps,
        "TLS and the controller's key",
        format!("{negotiated}, key {key} ({pinned})"),
    )?;

    // With TLS 1.3 a controller refuses our key after the handshake, at
    // the first message: authorisation is known when its capability comes.
    match timeout(t.timing.handshake, capabilities(&mut conn)).await {
        Ok(Ok(())) => ok(
            steps,
            "Authorisation",
            "the controller accepted this connector".into(),
        )?,
        Ok(Err(SessionError::Unauthorized(e))) => return refused(&auth_command, steps, e),
        Ok(Err(e)) => return refused(&auth_command, steps, e.to_string()),
        Err(_) => return refused(&auth_command, steps, "no capability answer".into()),
    }

    match timeout(t.timing.handshake, subscribe(&mut conn)).await {
        Ok(Ok(accepted)) => ok(
            steps,
            "Subscription",
            format!("accepted: {}", accepted.names().join(", ")),
        )?,
        Ok(Err(e)) => {
            return fail(steps, "Subscription", e.to_string(), subscribe_fix());
        }
        Err(_) => {
            return fail(steps, "Subscription", "no answer".into(), subscribe_fix());
        }
    }

    let first = async {
        loop {
            if let Some(Message::Notification { msg_type, .. }) = conn.next_message().await? {
                return Ok::<_, SessionError>(msg_type);
            }
        }
    };
    match timeout(FIRST_DATA, first).await {
        Ok(Ok(kind)) => ok(steps, "First data", format!("a {} arrived", kind.name())),
        Ok(Err(e)) => fail(steps, "First data", e.to_string(), data_fix()),
        Err(_) => fail(
            steps,
            "First data",
            format!("nothing in {} s", FIRST_DATA.as_secs()),
            data_fix(),
        ),
    }
}

fn refused(auth_command: &str, steps: &mut Vec<Step>, error: String) -> Option<()> {
    fail(
        steps,
        "Authorisation",
        format!("the controller refused this connector ({error})"),
        format!("Add this connector to the controller's auth list: {auth_command}"),
    )
}

fn tcp_fix(port: u16) -> String {
    format!(
        "Open TCP {port} from this connector to the controller (firewalls, ACLs), and check \
         that NMSP is enabled on the controller."
    )
}

fn subscribe_fix() -> String {
    "The controller accepted the connector but not the subscription: check its NMSP \
     services (location, client and AP information, statistics)."
        .into()
}

fn data_fix() -> String {
    "The session is up but no notification came: check that the controller has APs and \
     clients, and its NMSP notification interval."
        .into()
}
