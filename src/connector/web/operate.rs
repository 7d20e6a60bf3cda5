//! The appliance's operations behind both the pages and the API: the
//! support bundle, backups and restores, and upgrades (each shared so the
//! System page and `/api/v1` answer the same).

use super::AppState;
use crate::portal::download::attachment;
use crate::portal::error::WebError;

impl AppState {
    /// The support bundle with the service's live part, as a download
    /// (the System page's button and the API answer the same).
    pub async fn support_bundle(&self) -> Result<axum::response::Response, WebError> {
        use crate::connector::support_bundle::{SupportBundle, sessions_table};
        let a = self.appliance.clone();
        let mut b = self
            .appliance
            .db
            .call(move |c| SupportBundle::from_state_file(&a, c))
            .await?;
        b.add_json("cloud-link.json", &self.cloud.view().await?);
        b.add_json("clock.json", &self.clock.now().await);
        let controllers = self.controller_channel().await;
        let aps = self.ap_channel.snapshot();
        b.add_text(
            "controller-sessions.txt",
            sessions_table(&controllers.links),
        );
        b.add_text("ap-sessions.txt", sessions_table(&aps.links));
        b.add_json(
            "statistics.json",
            &serde_json::json!({ "controller_channel": controllers, "ap_channel": aps }),
        );
        let log = crate::connector::service_journal::text(&Default::default()).await;
        b.add_text("logs.txt", log);
        let name = b.name();
        let bytes = tokio::task::spawn_blocking(move || b.finish())
            .await
            .map_err(WebError::internal)?
            .map_err(WebError::internal)?;
        let response = attachment("application/gzip", &format!("{name}.tar.gz"), bytes);
        // Not a change, but who took the appliance's diagnostics is kept.
        Ok(crate::portal::audit::Audited::new("support_bundle.download", name).on(response))
    }

    /// A backup of the configuration as a download, sealed with
    /// `passphrase` (the System page and the API answer the same).
    pub async fn backup_download(
        &self,
        passphrase: String,
        with_identity: bool,
    ) -> Result<axum::response::Response, WebError> {
        let file = self
            .appliance
            .db
            .call(move |c| crate::connector::backup::take(c, &passphrase, with_identity))
            .await?;
        let name = format!(
            "spaces-connector-backup-{}-{}.scbackup",
            self.appliance.hostname,
            crate::clock::now_unix()
        );
        let response = attachment("application/octet-stream", &name, file);
        let what = if with_identity {
            "with the appliance's identity"
        } else {
            "without the identity"
        };
        Ok(crate::portal::audit::Audited::new("backup.download", what).on(response))
    }

    /// Restores a backup, all or nothing, then has the service start
    /// again on it (after its answer has gone out).
    pub async fn restore(
        &self,
        input: crate::connector::backup::RestoreInput,
    ) -> Result<crate::connector::backup::Restored, WebError> {
        use crate::connector::backup::{self, RestoreError};
        let how = input.check().map_err(|fields| WebError::Invalid {
            message: "nothing was restored: check the fields".into(),
            fields,
        })?;
        let (file, passphrase) = (input.file, input.passphrase);
        let dir = self.appliance.data_dir.clone();
        let restored = self
            .appliance
            .db
            .call(move |c| {
                let restored = backup::restore(c, &file, &passphrase, how)?;
                if restored.admin_password {
                    // Set up by the restore: the setup code has done its work.
                    crate::portal::auth::setup_code::used(c, &dir)?;
                }
                Ok::<_, RestoreError>(restored)
            })
            .await?;
        tracing::warn!(restored = %restored.summary(), "configuration restored: restarting");
        self.restart.request(std::time::Duration::from_secs(1));
        Ok(restored)
    }

    /// The System page's upgrade card: what runs, how the last upgrade
    /// ended, what waits, and which members of the pair are not up.
    pub async fn upgrade_view(&self) -> crate::connector::upgrade::UpgradeView {
        use crate::connector::upgrade;
        let dir = &self.appliance.data_dir;
        let peers_down = match self.cloud.view().await {
            Ok(link) => link
                .peers
                .iter()
                .filter(|p| p.instance_id != self.appliance.instance_id && p.state != "up")
                .map(|p| format!("{} ({})", p.hostname, p.state))
                .collect(),
            Err(_) => Vec::new(),
        };
        upgrade::UpgradeView {
            version: crate::VERSION,
            managed: self.upgrades.managed,
            trusts_a_key: !self.upgrades.trusted.is_empty(),
            pending: upgrade::pending(dir),
            outcome: upgrade::outcome(dir),
            peers_down,
        }
    }

    /// Checks an uploaded bundle and stages it for the helper, unless a
    /// member of the pair is down and the admin did not say to go on.
    pub async fn submit_upgrade(
        &self,
        bytes: Vec<u8>,
        peer_down_ok: bool,
    ) -> Result<crate::connector::upgrade::UpgradeRequest, WebError> {
        use crate::connector::upgrade;
        let view = self.upgrade_view().await;
        if !view.peers_down.is_empty() && !peer_down_ok {
            let mut fields = crate::fields::FieldErrors::default();
            fields.add(
                "peer_down_ok",
                format!(
                    "the other member of the pair is not up ({}): while this one upgrades, nothing reports; tick to go on anyway",
                    view.peers_down.join(", ")
                ),
            );
            return Err(WebError::Invalid {
                message: "the upgrade was not started".into(),
                fields,
            });
        }
        let active = self.controller_channel().await.active_ids();
        let (dir, trusted, managed) = (
            self.appliance.data_dir.clone(),
            self.upgrades.trusted.clone(),
            self.upgrades.managed,
        );
        let request = tokio::task::spawn_blocking(move || {
            upgrade::submit(&dir, &bytes, &trusted, managed, active)
        })
        .await
        .map_err(WebError::internal)??;
        tracing::warn!(from = %request.from, to = %request.to, "upgrade staged for the helper");
        Ok(request)
    }
}
