//! The checks every command runs on its settings before it starts: an unsafe or meaningless
//! combination refuses to start, with a message naming the setting to change.

use super::Settings;

impl Settings {
    /// Refuses settings that would silently switch a protection off, leak codes or split
    /// instances; see the README's "Refusals at start-up".
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!((6..=10).contains(&self.codes.length), "codes.length must be between 6 and 10");
        anyhow::ensure!(self.codes.ttl_seconds > 0, "codes.ttl_seconds must be positive");
        anyhow::ensure!(self.codes.max_live_per_phone > 0, "codes.max_live_per_phone must be positive");
        anyhow::ensure!(self.codes.max_failures > 0, "codes.max_failures must be positive");
        anyhow::ensure!(self.sessions.ttl_seconds > 0, "sessions.ttl_seconds must be positive");
        let brute_force = &self.brute_force;
        anyhow::ensure!(brute_force.max_failures > 0, "brute_force.max_failures must be positive");
        anyhow::ensure!(brute_force.account_captcha_after > 0, "brute_force.account_captcha_after must be positive");
        anyhow::ensure!(
            brute_force.account_lock_after == 0 || brute_force.account_lock_after > brute_force.account_captcha_after,
            "brute_force.account_lock_after must be 0 (never lock) or more than brute_force.account_captcha_after"
        );
        anyhow::ensure!(
            (32..=128).contains(&brute_force.ipv6_prefix),
            "brute_force.ipv6_prefix must be between 32 and 128"
        );
        // A proxy's own address exempt from the second factor would let anything the proxy
        // forwards (and any unreadable forwarding) log in with a password alone.
        anyhow::ensure!(
            !self.trusted_proxies.overlaps(&self.two_factor.trusted_ip_ranges),
            "two_factor.trusted_ip_ranges overlaps trusted_proxies: a request through the proxy would skip the \
             second factor. Remove the proxies' addresses from two_factor.trusted_ip_ranges (clients are \
             matched by the address the proxy forwards)"
        );
        anyhow::ensure!(
            self.password_hash.size >= 128 && self.password_hash.size.is_multiple_of(8),
            "password_hash.size must be a multiple of 8 and at least 128"
        );
        anyhow::ensure!(self.password_hash.iterations > 0, "password_hash.iterations must be positive");
        anyhow::ensure!(self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024");
        anyhow::ensure!(self.retention_days > 0, "retention_days must be positive");
        if let Some(token) = &self.metrics.bearer_token {
            anyhow::ensure!(!token.0.trim().is_empty(), "metrics.bearer_token must not be empty");
        }
        if let Some(twilio) = &self.sms.twilio {
            // An empty token would make anyone's delivery receipts verify.
            anyhow::ensure!(!twilio.auth_token.0.is_empty(), "sms.twilio.auth_token must not be empty");
        }
        self.validate_windows()?;
        self.validate_providers()?;
        self.validate_exposure()
    }

    /// A zero window or block switches a limit off without saying so; a zero lease lets every
    /// worker claim a message another is sending.
    fn validate_windows(&self) -> anyhow::Result<()> {
        let brute_force = &self.brute_force;
        anyhow::ensure!(brute_force.window_seconds > 0, "brute_force.window_seconds must be positive");
        anyhow::ensure!(brute_force.block_seconds > 0, "brute_force.block_seconds must be positive");
        let delivery = &self.delivery;
        anyhow::ensure!(delivery.lease_seconds > 0, "delivery.lease_seconds must be positive");
        anyhow::ensure!(delivery.max_attempts > 0, "delivery.max_attempts must be positive");
        anyhow::ensure!(self.database_timeout_ms > 0, "database_timeout_ms must be positive");
        Ok(())
    }

    /// A provider section nobody uses is a typo or a forgotten list entry: either way the operator
    /// believes messages go somewhere they do not.
    fn validate_providers(&self) -> anyhow::Result<()> {
        let sms = &self.sms;
        let configured = [
            ("twilio", sms.twilio.is_some()),
            ("vonage", sms.vonage.is_some()),
            ("messagebird", sms.messagebird.is_some()),
            ("smsc", sms.smsc.is_some()),
            ("clickatell", sms.clickatell.is_some()),
            ("webhook", sms.webhook.is_some()),
        ];
        for (name, _) in configured.iter().filter(|(_, present)| *present) {
            anyhow::ensure!(
                sms.providers.iter().any(|listed| listed == name),
                "[sms.{name}] is configured but {name:?} is not in sms.providers: add it to sms.providers \
                 (currently {:?}) or remove the [sms.{name}] section",
                sms.providers
            );
        }
        Ok(())
    }

    /// Why people other than the developer can reach this server, if they can: a non-loopback
    /// `bind`, a reverse proxy in front of it (`trusted_proxies`), or a non-loopback `public_url`.
    fn exposure(&self) -> Option<String> {
        if !self.bind.ip().is_loopback() {
            return Some(format!("bind = {} is not a loopback address", self.bind));
        }
        if !self.trusted_proxies.is_empty() {
            return Some("trusted_proxies is set, so a proxy forwards others' requests here".to_owned());
        }
        let public_host = self.public_url.as_ref().and_then(|url| match url.host()? {
            url::Host::Domain(domain) if domain.eq_ignore_ascii_case("localhost") => None,
            url::Host::Domain(domain) => Some(domain.to_owned()),
            url::Host::Ipv4(ip) if ip.is_loopback() => None,
            url::Host::Ipv6(ip) if ip.is_loopback() => None,
            host => Some(host.to_string()),
        });
        public_host.map(|host| format!("public_url names {host}, which is not this machine's loopback"))
    }

    /// What only the developer may see stays with the developer unless a setting says otherwise.
    fn validate_exposure(&self) -> anyhow::Result<()> {
        let Some(exposure) = self.exposure() else {
            return Ok(());
        };
        anyhow::ensure!(
            !self.sms.providers.iter().any(|p| p == "development") || self.sms.development.allow_public,
            "{exposure}, and the development SMS provider writes every code in plain text to {}: remove \
             \"development\" from sms.providers (configure a real provider), or set \
             sms.development.allow_public = true",
            self.outbox_file().display()
        );
        let metrics = &self.metrics;
        anyhow::ensure!(
            !metrics.enabled || metrics.bearer_token.is_some() || metrics.public,
            "{exposure}, so /metrics would be readable by anyone: set metrics.bearer_token, or \
             metrics.public = true for a network only scrapers reach, or metrics.enabled = false"
        );
        Ok(())
    }
}

#[cfg(test)]
// figment's Jail closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use super::super::Overrides;
    use super::*;

    /// The error `Settings::load` gives with `toml` as the config file.
    fn refusal(jail: &mut figment::Jail, toml: &str) -> String {
        jail.create_file("c.toml", toml).expect("config file written");
        match Settings::load(Some(Path::new("c.toml")), &Overrides::default()) {
            Ok(_) => panic!("settings loaded:\n{toml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn zero_windows_blocks_leases_and_timeouts_refuse_to_load() {
        figment::Jail::expect_with(|jail| {
            for (toml, setting) in [
                ("[brute_force]\nwindow_seconds = 0\n", "brute_force.window_seconds"),
                ("[brute_force]\nblock_seconds = 0\n", "brute_force.block_seconds"),
                ("[delivery]\nlease_seconds = 0\n", "delivery.lease_seconds"),
                ("[delivery]\nmax_attempts = 0\n", "delivery.max_attempts"),
                ("database_timeout_ms = 0\n", "database_timeout_ms"),
                ("[metrics]\nbearer_token = \"\"\n", "metrics.bearer_token"),
            ] {
                let error = refusal(jail, toml);
                assert!(error.contains(setting), "{toml}: {error}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_provider_section_not_in_sms_providers_refuses_to_load() {
        figment::Jail::expect_with(|jail| {
            let error = refusal(jail, "[sms.webhook]\nurl = \"http://127.0.0.1:9/send\"\n");
            assert!(error.contains("[sms.webhook]") && error.contains("sms.providers"), "{error}");
            jail.create_file(
                "ok.toml",
                "[sms]\nproviders = [\"webhook\"]\n[sms.webhook]\nurl = \"http://127.0.0.1:9/send\"\n",
            )?;
            Settings::load(Some(Path::new("ok.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn a_public_bind_needs_a_real_provider_and_a_metrics_token_unless_allowed() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DOCSPACE_AUTH__BIND", "0.0.0.0:8092");
            let error = refusal(jail, "");
            assert!(error.contains("sms.development.allow_public") && error.contains("0.0.0.0:8092"), "{error}");
            let error = refusal(jail, "[sms.development]\nallow_public = true\n");
            assert!(error.contains("metrics.bearer_token") && error.contains("metrics.public"), "{error}");
            let error = refusal(jail, "[sms]\nproviders = []\n[metrics]\nenabled = true\n");
            assert!(error.contains("metrics.bearer_token"), "{error}");
            for allowed in [
                "[sms]\nproviders = []\n[metrics]\nbearer_token = \"t\"\n",
                "[sms]\nproviders = []\n[metrics]\npublic = true\n",
                "[sms]\nproviders = []\n[metrics]\nenabled = false\n",
                "[sms.development]\nallow_public = true\n[metrics]\npublic = true\n",
            ] {
                jail.create_file("ok.toml", allowed)?;
                Settings::load(Some(Path::new("ok.toml")), &Overrides::default())
                    .map_err(|e| format!("{allowed}: {e}"))?;
            }
            // Loopback addresses, IPv6 too, need neither.
            jail.set_env("DOCSPACE_AUTH__BIND", "[::1]:8092");
            Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            jail.set_env("DOCSPACE_AUTH__PUBLIC_URL", "http://localhost:8092/");
            Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            // Behind a reverse proxy on this machine, or published under a public name, it is public.
            let error = refusal(jail, "trusted_proxies = [\"127.0.0.1/32\"]\n");
            assert!(error.contains("trusted_proxies") && error.contains("sms.development.allow_public"), "{error}");
            jail.clear_env();
            let error = refusal(jail, "public_url = \"https://auth.example.com/\"\n");
            assert!(error.contains("auth.example.com") && error.contains("sms.development.allow_public"), "{error}");
            Ok(())
        });
    }
}
