//! Persistence behind one interface. SQLite is the embedded default; every piece of state that must
//! survive a restart or be shared between instances lives here, never in process memory.

mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_salt: String,
    pub password_hash: String,
    pub mobile_phone: Option<String>,
    pub phone_activated: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: String,
    pub user_id: String,
    pub phone: String,
    pub code_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What became of a request to store a new code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeIssue {
    /// Stored; `live_codes` now live for the phone, the oldest expiring at `oldest_expires_at`.
    Issued { live_codes: u32, oldest_expires_at: DateTime<Utc> },
    /// The phone already has its maximum of live codes; one frees up at `retry_at`.
    CapReached { retry_at: DateTime<Utc> },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The stored value of a portal setting, storing `default` first when there is none, so that
    /// concurrent first starts agree on one value.
    async fn portal_setting_or_init(&self, key: &str, default: &str) -> StoreResult<String>;

    /// Adds a user; `Conflict` when the email is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;

    /// Finds a user by email (any case) or by id.
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>>;

    async fn list_users(&self) -> StoreResult<Vec<User>>;

    /// Sets or clears the phone; a new phone is not activated yet. False when no such user.
    async fn set_mobile_phone(&self, user_id: &str, phone: Option<&str>) -> StoreResult<bool>;

    /// False when no such user.
    async fn remove_user(&self, user_id: &str) -> StoreResult<bool>;

    /// Stores a code unless its phone already has `max_live_per_phone` live codes (unexpired and
    /// unconsumed at `code.created_at`); the check and the insert are one atomic step.
    async fn issue_code(&self, code: &NewCode, max_live_per_phone: u32) -> StoreResult<CodeIssue>;

    /// Deletes a code that was never delivered.
    async fn withdraw_code(&self, code_id: &str) -> StoreResult<()>;
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
