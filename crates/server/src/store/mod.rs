//! Persistence behind one interface. SQLite is the embedded default; PostgreSQL lets several
//! instances share one database. Every piece of state that must survive a restart or be shared
//! between instances lives here, never in process memory.

mod common;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Opens the database `url` names (`sqlite:...`, or `postgres://...` / `postgresql://...`) and
/// applies pending migrations. `timeout` bounds the wait for a connection (on SQLite, at least
/// 10 s, also for the write lock): past it a request fails with [`StoreError::Unavailable`]
/// instead of hanging.
pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    // Errors name the database without its password.
    let context = || format!("opening the database {}", redact_url(url));
    Ok(match scheme {
        "sqlite" => Arc::new(SqliteStore::connect(url, timeout).await.with_context(context)?),
        "postgres" | "postgresql" => Arc::new(PostgresStore::connect(url, timeout).await.with_context(context)?),
        _ => anyhow::bail!("unsupported database URL scheme {scheme:?}: use sqlite:, postgres:// or postgresql://"),
    })
}

/// `url` without its password, fit for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only URLs with a host carry a password, and those accept a new one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(an unparsable database URL)".to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or written (down, unreachable, read-only, full): the
    /// request may succeed later, unchanged.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if outage(&e) { StoreError::Unavailable(e) } else { StoreError::Database(e) }
    }
}

/// Whether `e` says the database is out of reach rather than that a statement was wrong.
fn outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            // SQLite's primary result code is the low byte of the extended one. BUSY: another
            // process held the database locked for longer than the timeout.
            Some(_) => db.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| {
                matches!(code & 0xff, SQLITE_BUSY | SQLITE_CANTOPEN | SQLITE_READONLY | SQLITE_IOERR | SQLITE_FULL)
            }),
            None => db.code().is_some_and(|code| postgres_outage(&code)),
        },
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of a server that cannot serve now: class 08 (connection exception, but
/// not 08P01, a protocol violation: a bug), 53 (insufficient resources), 57P0x (shutting down,
/// cannot connect now), 57014 (statement timed out), 55P03 (lock not available) and 25006 (a
/// read-only transaction: a standby after a failover).
fn postgres_outage(code: &str) -> bool {
    (code.starts_with("08") && code != "08P01")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "57014" | "55P03" | "25006")
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_salt: String,
    pub password_hash: String,
    pub mobile_phone: Option<String>,
    pub phone_activated: bool,
    /// Who put the phone on file; `None` without a phone.
    pub phone_source: Option<PhoneSource>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// Who put a phone on file. An administrator's phone binds: the second factor goes to it and
/// only an administrator replaces it. A phone the user chose (`setphone`) may be replaced the same
/// way until a code sent to it has logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneSource {
    Admin,
    User,
}

impl PhoneSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneSource::Admin => "admin",
            PhoneSource::User => "self",
        }
    }

    /// Anything but `self` reads as an administrator's: the binding, safer reading.
    pub fn parse(stored: &str) -> Self {
        if stored == "self" { PhoneSource::User } else { PhoneSource::Admin }
    }
}

/// What became of a request to put a phone on file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneChange {
    Set,
    NoSuchUser,
    /// The user's phone is activated: not replaceable by the user.
    Activated,
    /// The user's phone is an administrator's: not replaceable by the user.
    Provisioned,
    /// Another user has activated this number.
    InUse,
}

/// The account-wide failure rule (`brute_force.account_*`): consecutive failures of an account,
/// whatever the address. From `captcha_after` on, every attempt needs a CAPTCHA (`captcha`) or
/// waits a delay doubling from 1 s up to `max_delay_ms`; at `lock_after` (0: never) the account
/// is locked until an administrator unlocks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRule {
    pub captcha_after: u32,
    pub lock_after: u32,
    pub captcha: bool,
    pub max_delay_ms: i64,
}

impl AccountRule {
    /// The wait after the `failures`-th consecutive failure.
    pub fn delay_ms(&self, failures: i64) -> i64 {
        let doublings = (failures - i64::from(self.captcha_after)).clamp(0, 40);
        (1000_i64 << doublings).min(self.max_delay_ms)
    }
}

/// What the account-wide count says of one more attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAdmission {
    /// Counted as a failure until the attempt succeeds; `wait_set` is the wait this attempt put
    /// on the account (no CAPTCHA configured), which a right credential takes back with it.
    Admitted { wait_set: Option<DateTime<Utc>> },
    /// A valid CAPTCHA is needed; nothing was counted.
    CaptchaNeeded,
    /// Not before then; nothing was counted.
    Wait(DateTime<Utc>),
    /// Locked until an administrator unlocks it; nothing was counted.
    Locked,
}

/// One send cap to check and count when queueing a message: at most `limit` per `window_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCap {
    /// `user`, `ip`, `country` or `global`.
    pub scope: &'static str,
    pub key: String,
    pub limit: u32,
    pub window_ms: i64,
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

/// An SMS to queue with its code: the text encrypted (it carries the code). It is stored already
/// claimed (state `sending`, attempt 1) until `claimed_until`, for the request's own first attempt.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sealed_text: Vec<u8>,
    pub claimed_until: DateTime<Utc>,
}

/// A message claimed for one delivery attempt.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub id: String,
    pub phone: String,
    pub sealed_text: Vec<u8>,
    /// Including this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The claim's end: the attempt must be over by then, or another worker may send it too.
    pub claimed_until: DateTime<Utc>,
}

/// A row of the outbox, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: String,
    pub phone: String,
    pub state: String,
    pub attempts: u32,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    /// The provider's latest delivery receipt status, if it sent one.
    pub receipt_status: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A delivery receipt from a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's own status word (`delivered`, `undelivered`, `sent`, ...).
    pub status: String,
    /// `delivered` or `undelivered` when the receipt is final.
    pub final_state: Option<&'static str>,
    pub error: Option<String>,
}

/// What became of a request to store a new code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeIssue {
    /// Stored; `live_codes` now live for the phone, the oldest expiring at `oldest_expires_at`.
    Issued { live_codes: u32, oldest_expires_at: DateTime<Utc> },
    /// The phone already has its maximum of live codes; one frees up at `retry_at`.
    CapReached { retry_at: DateTime<Utc> },
    /// A send cap (`scope`) is used up until `retry_at`.
    SendCapReached { scope: &'static str, limit: u32, retry_at: DateTime<Utc> },
    /// The phone is no longer the user's (an administrator changed it meanwhile): nothing stored.
    PhoneChanged,
}

/// A code that can still be redeemed.
#[derive(Debug, Clone)]
pub struct LiveCode {
    pub id: String,
    pub phone: String,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A single-use key to burn when a session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedKey {
    pub key_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// A live (unexpired, unrevoked) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
}

/// What became of a wrong code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFailure {
    /// Counted: this many wrong codes in the current window.
    Counted(u32),
    /// The limit was reached: every live code of the user is dead and the count starts over.
    LimitReached,
}

/// How [`Store::purge_expired`] deletes. Rows in a final state are kept `retention` after they
/// ended, for operators (`outbox list`) and audits, then deleted:
/// - a session, after it expired or was revoked (logout), whichever came first;
/// - a code, after it expired (one used or killed before then is kept as long);
/// - an SMS message, once it is final (`sent`, `delivered`, `undelivered` or `failed`) and its
///   text is gone, after its last change (a delivery receipt counts);
/// - a used single-use key (login link), after the key itself expired: until then it is what
///   stops the key from being replayed.
///
/// Bookkeeping goes when it can no longer count: wrong-code, failed-login and send-cap windows
/// (and blocks) when they end, the failure counts of unknown logins a day after their last
/// attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    pub retention: chrono::Duration,
    /// Rows per `DELETE`; on SQLite also per write transaction.
    pub batch_size: u32,
}

/// Rows [`Store::purge_expired`] deleted: `(table, rows)`.
pub type Purged = Vec<(&'static str, u64)>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// The stored value of a portal setting, storing `default` first when there is none, so that
    /// concurrent first starts agree on one value.
    async fn portal_setting_or_init(&self, key: &str, default: &str) -> StoreResult<String>;

    /// Adds a user; `Conflict` when the email is taken or another user has activated the phone.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;

    /// Finds a user by email (any case) or by id.
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>>;

    async fn list_users(&self) -> StoreResult<Vec<User>>;

    /// An administrator sets or clears the phone: a new phone is the administrator's, not yet
    /// activated, and the user's live codes die with the old one, in one transaction. `InUse`
    /// when another user has activated the number.
    async fn set_mobile_phone(
        &self,
        user_id: &str,
        phone: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<PhoneChange>;

    /// The user chooses a phone (`setphone`): set, not yet activated, unless the phone on file is
    /// activated or an administrator's or another user has activated the number
    /// (`InUse`), all decided in the statement that writes it.
    async fn set_unactivated_phone(&self, user_id: &str, phone: &str) -> StoreResult<PhoneChange>;

    /// False when no such user.
    async fn remove_user(&self, user_id: &str) -> StoreResult<bool>;

    /// Stores a code and queues its SMS (outbox id = code id) unless the user already has
    /// `max_live_per_phone` live codes for that phone (unexpired and unconsumed at `code.created_at`) or one of
    /// `caps` is used up in its current window; checks, counts, code and message are one atomic
    /// step.
    async fn issue_code(
        &self,
        code: &NewCode,
        message: &NewMessage,
        max_live_per_phone: u32,
        caps: &[SendCap],
    ) -> StoreResult<CodeIssue>;

    /// Claims a message that is due at `now` and whose code is still live (`only` that one, if
    /// given) for one attempt: its state
    /// becomes `sending` until `now + lease_ms`, after which another worker may claim it again
    /// (the first one crashed).
    async fn claim_message(
        &self,
        only: Option<&str>,
        now: DateTime<Utc>,
        lease_ms: i64,
    ) -> StoreResult<Option<ClaimedMessage>>;

    /// The message reached a provider: `sent`, and its text is dropped. Like
    /// `message_attempt_failed`, it applies only while the row is still held by the attempt that
    /// claimed it (`attempt` = its `attempts` count); a stale attempt changes nothing.
    async fn message_sent(
        &self,
        id: &str,
        attempt: u32,
        provider: &str,
        provider_message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// An attempt failed: queued again for `retry_at`, or `failed` for good when `None` (the text
    /// stays until the code expires, so an operator can retry it).
    async fn message_attempt_failed(
        &self,
        id: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Applies a provider's delivery receipt to the message it sent as `provider_message_id`, while
    /// the message is `sent` (receipts arrive late and out of order; final states stay final):
    /// `receipt.final_state` (`delivered` or `undelivered`) ends it. False when no message matched.
    async fn record_receipt(
        &self,
        provider: &str,
        provider_message_id: &str,
        receipt: &Receipt,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// How many messages are in each state, for the queue-depth gauge.
    async fn count_messages_by_state(&self) -> StoreResult<Vec<(String, u64)>>;

    /// The outbox, newest first, optionally in one state.
    async fn list_messages(&self, state: Option<&str>, limit: u32) -> StoreResult<Vec<MessageRecord>>;

    /// Queues a failed message again, if its text is still there (its code not expired).
    async fn retry_message(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Drops the texts of unsent messages whose codes have expired or died (used, or killed by
    /// too many wrong codes), failing those messages: nobody needs them any more.
    async fn drop_expired_texts(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Deletes what can no longer matter (see [`Purge`]): rows in a final state that ended at
    /// least `purge.retention` before `now`, and bookkeeping whose window has ended. In batches
    /// of `purge.batch_size` rows, each its own short transaction (on PostgreSQL, rows another
    /// transaction holds are left for the next round). The rows deleted per table, every table
    /// listed.
    async fn purge_expired(&self, now: DateTime<Utc>, purge: &Purge) -> StoreResult<Purged>;

    /// The user's codes that are unexpired and unconsumed at `now`, oldest first.
    async fn live_codes(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<LiveCode>>;

    /// In one transaction: consumes code `code_id` if it is still live at `session.created_at`
    /// and went to the phone the user has now,
    /// kills the user's other live codes, activates the phone the code went to (unless another
    /// user activated that number first), clears the user's
    /// wrong-code count, burns `used_key` and starts `session`. False, changing nothing, when the
    /// code is no longer live or the key was already used (a concurrent request got there first).
    async fn redeem_code(&self, code_id: &str, session: &NewSession, used_key: Option<&UsedKey>) -> StoreResult<bool>;

    /// Burns `used_key` (if any) and starts `session`, atomically. False, changing nothing, when
    /// the key was already used.
    async fn start_session(&self, session: &NewSession, used_key: Option<&UsedKey>) -> StoreResult<bool>;

    /// Whether a single-use key has already started a session.
    async fn is_key_used(&self, key_hash: &str) -> StoreResult<bool>;

    /// Counts a wrong code for the user in a window of `window_ms` starting at its first failure;
    /// the `max`-th failure kills every live code of the user and starts the count over.
    async fn record_code_failure(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
        window_ms: i64,
        max: u32,
    ) -> StoreResult<CodeFailure>;

    /// Admits one login attempt for (`login`, `ip`), atomically: when the pair is blocked at `now`,
    /// returns the end of the block and counts nothing; otherwise counts the attempt in a window of
    /// `window_ms` from the first one, and the `max`-th attempt in a window (itself admitted) blocks
    /// the pair for `block_ms`. Counting before the credentials are checked is what keeps
    /// concurrent attempts from slipping past the limit; a right credential takes its attempt
    /// back (`refund_login_attempt`) and a session clears the count.
    async fn admit_login_attempt(
        &self,
        login: &str,
        ip: &str,
        now: DateTime<Utc>,
        window_ms: i64,
        max: u32,
        block_ms: i64,
    ) -> StoreResult<Option<DateTime<Utc>>>;

    /// Takes back one admitted attempt of (`login`, `ip`) whose credential was right but started
    /// no session (a code was sent), with the block it may have set: failures stay counted.
    async fn refund_login_attempt(&self, login: &str, ip: &str) -> StoreResult<()>;

    /// Forgets the failures of (`login`, `ip`) after a successful login.
    async fn clear_login_failures(&self, login: &str, ip: &str) -> StoreResult<()>;

    /// Admits one attempt for `account` under `rule`, atomically (see [`AccountRule`]): counted
    /// as a failure up front, so that concurrent attempts cannot slip past a threshold; a correct
    /// credential refunds it ([`Store::refund_account_attempt`]) or, with a session, clears the
    /// count. `captcha_passed`: the request carried a CAPTCHA that verified.
    async fn admit_account_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
        rule: &AccountRule,
        captcha_passed: bool,
    ) -> StoreResult<AccountAdmission>;

    /// Takes back one admitted attempt whose credential was right (no session yet), and the wait
    /// it set (`wait_set`, if the account still has that one): a right password never delays the
    /// code step that follows it.
    async fn refund_account_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
        wait_set: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;

    /// Forgets the account's failures (a successful login, or `user unlock`); the count it had.
    async fn clear_account_failures(&self, account: &str) -> StoreResult<u32>;

    /// The account's consecutive failures.
    async fn account_failures(&self, account: &str) -> StoreResult<u32>;

    /// The live session with this token hash at `now`.
    async fn find_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>>;

    /// Revokes the session; false when there was no live one.
    async fn revoke_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<bool>;
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// A database file this process may read but not write: SQLite's own READONLY error, read as
    /// an outage (503), not a fault of the request (500).
    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_written_is_an_outage() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.sqlite");
        let mut writable =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut writable).await.unwrap();
        writable.close().await.unwrap();
        let mut read_only =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", file.display())).await.unwrap();
        let error = sqlx::query("INSERT INTO t VALUES (1)").execute(&mut read_only).await.unwrap_err();
        assert!(matches!(StoreError::from(error), StoreError::Unavailable(_)));
        // A wrong statement is not an outage.
        let error = sqlx::query("INSERT INTO missing VALUES (1)").execute(&mut read_only).await.unwrap_err();
        assert!(matches!(StoreError::from(error), StoreError::Database(_)));
    }

    #[test]
    fn postgres_states_of_a_server_that_cannot_serve_are_outages() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "57014", "55P03", "25006"] {
            assert!(postgres_outage(code), "{code}");
        }
        for code in ["08P01", "23505", "42P01", "40001"] {
            assert!(!postgres_outage(code), "{code}");
        }
    }
}
