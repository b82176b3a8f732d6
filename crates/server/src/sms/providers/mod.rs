//! The SMS gateways, one module each, configured by name in `sms.providers` with their own
//! section (`[sms.twilio]`, ...) whose secrets can come from the environment
//! (`DOCSPACE_AUTH__SMS__TWILIO__AUTH_TOKEN`).

pub mod clickatell;
pub mod messagebird;
pub mod smsc;
pub mod twilio;
pub mod vonage;
pub mod webhook;

#[cfg(test)]
pub(crate) mod testkit;

use std::sync::Arc;

use anyhow::Context;

use super::{DevelopmentOutbox, SmsProvider};
use crate::config::Settings;

/// Every name `sms.providers` accepts.
pub const NAMES: [&str; 7] = ["development", "twilio", "vonage", "messagebird", "smsc", "clickatell", "webhook"];

/// The provider called `name`, from its settings section.
pub fn build(name: &str, settings: &Settings) -> anyhow::Result<Arc<dyn SmsProvider>> {
    fn section<'a, T>(section: &'a Option<T>, name: &str) -> anyhow::Result<&'a T> {
        section.as_ref().with_context(|| {
            format!(
                "sms.providers lists {name:?} but [sms.{name}] is not configured \
                 (set it in the config file or as DOCSPACE_AUTH__SMS__{}__* variables)",
                name.to_uppercase()
            )
        })
    }
    let sms = &settings.sms;
    Ok(match name {
        "development" => Arc::new(DevelopmentOutbox::new(settings.outbox_file())),
        "twilio" => Arc::new(twilio::Twilio::new(section(&sms.twilio, name)?, settings.twilio_status_callback())),
        "vonage" => Arc::new(vonage::Vonage::new(section(&sms.vonage, name)?)),
        "messagebird" => Arc::new(messagebird::MessageBird::new(section(&sms.messagebird, name)?)),
        "smsc" => Arc::new(smsc::Smsc::new(section(&sms.smsc, name)?)),
        "clickatell" => Arc::new(clickatell::Clickatell::new(section(&sms.clickatell, name)?)),
        "webhook" => Arc::new(webhook::Webhook::new(section(&sms.webhook, name)?)?),
        other => anyhow::bail!("unknown SMS provider {other:?} in sms.providers (known: {})", NAMES.join(", ")),
    })
}
