//! The development provider: appends each message as one JSON line to a file a person can read
//! (`tail -f data/sms-outbox.jsonl`). It writes codes in plain text by design, so it is for
//! development and testing only.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::SecondsFormat;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{Delivery, SendError, SmsMessage, SmsProvider};

pub struct DevelopmentOutbox {
    path: PathBuf,
    // Serialises appends from this process so lines never interleave.
    lock: Mutex<()>,
}

impl DevelopmentOutbox {
    pub fn new(path: PathBuf) -> Self {
        Self { path, lock: Mutex::new(()) }
    }
}

#[async_trait]
impl SmsProvider for DevelopmentOutbox {
    fn name(&self) -> &'static str {
        "development"
    }

    async fn send(&self, message: &SmsMessage) -> Result<Delivery, SendError> {
        let mut line = serde_json::to_string(&serde_json::json!({
            "id": message.id,
            "to": message.to.e164(),
            "text": message.text,
            "provider": "development",
            "createdAt": message.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }))
        .map_err(|e| SendError::Rejected(e.to_string()))?;
        line.push('\n');

        let _guard = self.lock.lock().await;
        let io = |e: std::io::Error| SendError::Unavailable(format!("{}: {e}", self.path.display()));
        if let Some(parent) = self.path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        // Owner-only: the file holds live codes.
        let mut file =
            tokio::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path).await.map_err(io)?;
        // One write of the whole line keeps concurrent appenders' lines whole (O_APPEND).
        file.write_all(line.as_bytes()).await.map_err(io)?;
        // The message is on disk before the caller answers 200.
        file.sync_data().await.map_err(io)?;
        tracing::info!(
            to = %message.to.noise(),
            message_id = %message.id,
            outbox = %self.path.display(),
            "development SMS provider wrote a message"
        );
        Ok(Delivery { provider: "development", provider_message_id: Some(message.id.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::MobilePhone;

    #[tokio::test]
    async fn appends_one_json_line_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sms-outbox.jsonl");
        let outbox = DevelopmentOutbox::new(path.clone());
        for text in ["Code: 111111", "Code: 222222"] {
            let message = SmsMessage {
                id: uuid::Uuid::new_v4(),
                to: MobilePhone::parse("+12015550123").unwrap(),
                text: text.into(),
                created_at: chrono::Utc::now(),
            };
            let delivery = outbox.send(&message).await.unwrap();
            assert_eq!(delivery.provider, "development");
        }
        let content = std::fs::read_to_string(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let lines: Vec<serde_json::Value> = content.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["to"], "+12015550123");
        assert_eq!(lines[1]["text"], "Code: 222222");
    }
}
