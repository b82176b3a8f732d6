//! The PostgreSQL store, for several instances sharing one database.
//!
//! SQLite makes every write transaction exclusive (`BEGIN IMMEDIATE`); PostgreSQL runs many at
//! once at READ COMMITTED, where a count read in one statement may be stale by the next. So every
//! read-then-write here first takes transaction-scoped advisory locks on what its rule is about:
//! the (user, phone) and each send-cap key (`issue_code`), the user (wrong codes, redeeming,
//! removal, an administrator's phone change), a number being activated or provisioned, the
//! (login, address) pair and the account (brute force). Keys taken together are taken in key
//! order, and the user always before the number, so two transactions never wait for each other
//! in a cycle. Each statement after the lock sees every
//! transaction that held it before. Everything else is a single statement, atomic by itself.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::common::{
    self, Admission, ClaimedRow, LiveCodeRow, MESSAGE_COLUMNS, MessageRow, SessionRow, USER_COLUMNS, UserRow,
};
use super::{
    AccountAdmission, AccountRule, ClaimedMessage, CodeFailure, CodeIssue, LiveCode, MessageRecord, NewCode,
    NewMessage, NewSession, PhoneChange, PhoneSource, Purge, Purged, Receipt, SendCap, Session, Store, StoreResult,
    UsedKey, User, from_millis, to_millis,
};

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (waiting at most `timeout` for a connection) and applies
    /// pending migrations (sqlx holds an advisory lock while migrating, so instances starting
    /// together take turns).
    pub async fn connect(url: &str, timeout: Duration) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Also bounds opening a connection, and the liveness check of an idle one.
            .acquire_timeout(timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// The advisory-lock key of `parts` in `namespace`: the first 8 bytes of their SHA-256, so every
/// process computes the same key, and the keys can be sorted before they are taken.
fn lock_key(namespace: &str, parts: &[&str]) -> i64 {
    let mut hash = Sha256::new();
    hash.update(namespace.as_bytes());
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// Takes the advisory locks `keys` for the rest of the transaction, in ascending order.
async fn lock(tx: &mut Transaction<'_, Postgres>, mut keys: Vec<i64>) -> Result<(), sqlx::Error> {
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut **tx).await?;
    }
    Ok(())
}

fn user_lock(user_id: &str) -> i64 {
    lock_key("user", &[user_id])
}

fn phone_lock(phone: &str) -> i64 {
    lock_key("phone", &[phone])
}

fn account_lock(account: &str) -> i64 {
    lock_key("account", &[account])
}

fn login_lock(login: &str, ip: &str) -> i64 {
    lock_key("login", &[login, ip])
}

/// Runs `sql` (binding `login`, `ip`) under the (login, address) lock, so that it never lands
/// between an admission's read and its write.
async fn under_login_lock(pool: &PgPool, sql: &str, login: &str, ip: &str) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, vec![login_lock(login, ip)]).await?;
    sqlx::query(sql).bind(login).bind(ip).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Inside a transaction: burns the key (false when it was used already) and inserts the session.
async fn burn_key_and_insert_session(
    tx: &mut Transaction<'_, Postgres>,
    session: &NewSession,
    used_key: Option<&UsedKey>,
) -> Result<bool, sqlx::Error> {
    if let Some(key) = used_key {
        // A concurrent transaction inserting the same key makes this wait for its outcome.
        let burnt =
            sqlx::query("INSERT INTO used_confirm_keys (key_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&key.key_hash)
                .bind(to_millis(key.expires_at))
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if burnt == 0 {
            return Ok(false);
        }
    }
    sqlx::query("INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&session.id)
        .bind(&session.token_hash)
        .bind(&session.user_id)
        .bind(to_millis(session.created_at))
        .bind(to_millis(session.expires_at))
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn portal_setting_or_init(&self, key: &str, default: &str) -> StoreResult<String> {
        // Two statements: the SELECT must see a row a concurrent first start committed meanwhile.
        sqlx::query("INSERT INTO portal_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(default)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM portal_settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Serialised with activations of the same number (`redeem_code`).
        if let Some(phone) = &user.mobile_phone {
            lock(&mut tx, vec![phone_lock(phone)]).await?;
        }
        let result = sqlx::query(common::INSERT_USER)
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_salt)
            .bind(&user.password_hash)
            .bind(&user.mobile_phone)
            .bind(user.phone_activated)
            .bind(user.phone_source.map(PhoneSource::as_str))
            .bind(user.disabled)
            .bind(to_millis(user.created_at))
            .execute(&mut *tx)
            .await;
        common::inserted_user(result.map(|r| r.rows_affected()), user)?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        // Emails are stored lowercased by Rust, as on SQLite.
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 OR id = $2"))
                .bind(login.to_lowercase())
                .bind(login)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(common::user))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        // Byte order, as SQLite sorts, whatever the database's collation.
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email COLLATE \"C\""))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(common::user).collect())
    }

    async fn set_mobile_phone(
        &self,
        user_id: &str,
        phone: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<PhoneChange> {
        let mut tx = self.pool.begin().await?;
        // The user (its codes change), then the number (whether another user activates it
        // meanwhile): the order `redeem_code` takes them in, so neither waits on the other in a cycle.
        lock(&mut tx, vec![user_lock(user_id)]).await?;
        if let Some(phone) = phone {
            lock(&mut tx, vec![phone_lock(phone)]).await?;
            let taken: Option<i32> =
                sqlx::query_scalar(common::PHONE_IN_USE).bind(phone).bind(user_id).fetch_optional(&mut *tx).await?;
            if taken.is_some() {
                return Ok(PhoneChange::InUse);
            }
        }
        let updated = sqlx::query(common::SET_ADMIN_PHONE)
            .bind(phone)
            .bind(phone.map(|_| PhoneSource::Admin.as_str()))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(PhoneChange::NoSuchUser);
        }
        // Codes on their way to the old number must not log anyone in.
        sqlx::query(common::KILL_LIVE_CODES).bind(to_millis(now)).bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(PhoneChange::Set)
    }

    async fn set_unactivated_phone(&self, user_id: &str, phone: &str) -> StoreResult<PhoneChange> {
        let mut tx = self.pool.begin().await?;
        // The order `redeem_code` takes them in; under the number's lock no other user activates
        // it between the check and the write.
        lock(&mut tx, vec![user_lock(user_id)]).await?;
        lock(&mut tx, vec![phone_lock(phone)]).await?;
        let result = sqlx::query(common::SET_OWN_PHONE).bind(phone).bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        if result.rows_affected() == 1 {
            return Ok(PhoneChange::Set);
        }
        Ok(common::own_phone_refusal(self.find_user_by_login(user_id).await?.as_ref()))
    }

    async fn remove_user(&self, user_id: &str) -> StoreResult<bool> {
        // The user lock first, as `redeem_code` takes it before the rows the cascade deletes.
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, vec![user_lock(user_id)]).await?;
        let result = sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
        sqlx::query(common::FORGET_USER_ACCOUNT).bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    async fn issue_code(
        &self,
        code: &NewCode,
        message: &NewMessage,
        max_live_per_phone: u32,
        caps: &[SendCap],
    ) -> StoreResult<CodeIssue> {
        let now = to_millis(code.created_at);
        let mut tx = self.pool.begin().await?;
        // One issuer at a time per (user, phone) (the live-code count) and per send-cap key (its counter).
        let mut keys = vec![lock_key("user_phone", &[&code.user_id, &code.phone])];
        keys.extend(caps.iter().map(|cap| lock_key("send_cap", &[cap.scope, &cap.key])));
        lock(&mut tx, keys).await?;
        // A request that read the user before an administrator changed the phone sends nothing.
        let on_file: Option<i32> = sqlx::query_scalar(common::PHONE_ON_FILE)
            .bind(&code.user_id)
            .bind(&code.phone)
            .fetch_optional(&mut *tx)
            .await?;
        if on_file.is_none() {
            return Ok(CodeIssue::PhoneChanged);
        }
        // Send caps first: a refused request must not count against them.
        let mut counted = Vec::with_capacity(caps.len());
        for cap in caps {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT sent, window_ends_at FROM send_counters WHERE scope = $1 AND key = $2")
                    .bind(cap.scope)
                    .bind(&cap.key)
                    .fetch_optional(&mut *tx)
                    .await?;
            match cap.count_one(row, now) {
                Ok((sent, window_ends_at)) => counted.push((cap, sent, window_ends_at)),
                Err(refused) => return Ok(refused),
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO sms_codes (id, user_id, phone, code_hash, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COUNT(*) FROM sms_codes \
                    WHERE user_id = $2 AND phone = $3 AND expires_at > $5 AND consumed_at IS NULL) < $7",
        )
        .bind(&code.id)
        .bind(&code.user_id)
        .bind(&code.phone)
        .bind(&code.code_hash)
        .bind(now)
        .bind(to_millis(code.expires_at))
        .bind(i64::from(max_live_per_phone))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for (cap, sent, window_ends_at) in counted {
                sqlx::query(
                    "INSERT INTO send_counters (scope, key, sent, window_ends_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (scope, key) DO UPDATE SET sent = EXCLUDED.sent, window_ends_at = EXCLUDED.window_ends_at",
                )
                .bind(cap.scope)
                .bind(&cap.key)
                .bind(sent)
                .bind(window_ends_at)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO sms_outbox (id, user_id, phone, payload, state, attempts, next_attempt_at, locked_until, \
                                         expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'sending', 1, $5, $6, $7, $5, $5)",
            )
            .bind(&code.id)
            .bind(&code.user_id)
            .bind(&code.phone)
            .bind(&message.sealed_text)
            .bind(now)
            .bind(to_millis(message.claimed_until))
            .bind(to_millis(code.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        let (live, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(expires_at) FROM sms_codes \
             WHERE user_id = $1 AND phone = $2 AND expires_at > $3 AND consumed_at IS NULL",
        )
        .bind(&code.user_id)
        .bind(&code.phone)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(common::code_issue(inserted, live, oldest, code.expires_at))
    }

    async fn claim_message(
        &self,
        only: Option<&str>,
        now: DateTime<Utc>,
        lease_ms: i64,
    ) -> StoreResult<Option<ClaimedMessage>> {
        let now = to_millis(now);
        // SKIP LOCKED: a worker passes over the row another worker is claiming this instant, and
        // one that just lost the race re-checks the row, sees it claimed and leaves it.
        let row: Option<ClaimedRow> = sqlx::query_as(
            "UPDATE sms_outbox SET state = 'sending', locked_until = $1 + $2, attempts = attempts + 1, updated_at = $1 \
             WHERE id = (SELECT id FROM sms_outbox \
                         WHERE payload IS NOT NULL AND expires_at > $1 AND ($3::text IS NULL OR id = $3) \
                           AND EXISTS (SELECT 1 FROM sms_codes c WHERE c.id = sms_outbox.id AND c.consumed_at IS NULL) \
                           AND ((state = 'queued' AND next_attempt_at <= $1) OR (state = 'sending' AND locked_until <= $1)) \
                         ORDER BY next_attempt_at LIMIT 1 \
                         FOR UPDATE SKIP LOCKED) \
             RETURNING id, phone, payload, attempts, created_at, expires_at, locked_until",
        )
        .bind(now)
        .bind(lease_ms)
        .bind(only)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(common::claimed_message))
    }

    async fn message_sent(
        &self,
        id: &str,
        attempt: u32,
        provider: &str,
        provider_message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sms_outbox SET state = 'sent', payload = NULL, provider = $1, provider_message_id = $2, \
             last_error = NULL, updated_at = $3 WHERE id = $4 AND state = 'sending' AND attempts = $5",
        )
        .bind(provider)
        .bind(provider_message_id)
        .bind(to_millis(now))
        .bind(id)
        .bind(i64::from(attempt))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn message_attempt_failed(
        &self,
        id: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sms_outbox SET \
               state = CASE WHEN $1::bigint IS NULL THEN 'failed' ELSE 'queued' END, \
               next_attempt_at = COALESCE($1, next_attempt_at), locked_until = 0, last_error = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'sending' AND attempts = $5",
        )
        .bind(retry_at.map(to_millis))
        .bind(error)
        .bind(to_millis(now))
        .bind(id)
        .bind(i64::from(attempt))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_receipt(
        &self,
        provider: &str,
        provider_message_id: &str,
        receipt: &Receipt,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // One statement: a receipt racing another for the same message applies at most once to 'sent'.
        let result = sqlx::query(
            "UPDATE sms_outbox SET state = COALESCE($1, state), receipt_status = $2, receipt_at = $3, \
             last_error = COALESCE($4, last_error), updated_at = $3 \
             WHERE provider = $5 AND provider_message_id = $6 AND state = 'sent'",
        )
        .bind(receipt.final_state)
        .bind(&receipt.status)
        .bind(to_millis(now))
        .bind(receipt.error.as_deref())
        .bind(provider)
        .bind(provider_message_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn count_messages_by_state(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM sms_outbox GROUP BY state").fetch_all(&self.pool).await?;
        Ok(common::state_counts(rows))
    }

    async fn list_messages(&self, state: Option<&str>, limit: u32) -> StoreResult<Vec<MessageRecord>> {
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM sms_outbox WHERE ($1::text IS NULL OR state = $1) \
             ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(common::message_record).collect())
    }

    async fn retry_message(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let now = to_millis(now);
        let result = sqlx::query(
            "UPDATE sms_outbox SET state = 'queued', next_attempt_at = $1, updated_at = $1 \
             WHERE id = $2 AND state = 'failed' AND payload IS NOT NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn drop_expired_texts(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = to_millis(now);
        // Texts whose code expired or died unsent are worthless: drop them and fail the message.
        // Rows another transaction holds (a claim being recorded, another instance doing this)
        // are skipped, not waited for: the next round gets them, and no two rounds deadlock.
        let result = sqlx::query(
            "UPDATE sms_outbox SET payload = NULL, \
               state = CASE WHEN state IN ('queued', 'sending') THEN 'failed' ELSE state END, \
               last_error = CASE WHEN state IN ('queued', 'sending') THEN 'code expired or used before delivery' \
                            ELSE last_error END, \
               updated_at = $1 \
             WHERE id IN (SELECT id FROM sms_outbox \
                          WHERE payload IS NOT NULL AND (expires_at <= $1 \
                            OR NOT EXISTS (SELECT 1 FROM sms_codes c \
                                           WHERE c.id = sms_outbox.id AND c.consumed_at IS NULL)) \
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn purge_expired(&self, now: DateTime<Utc>, purge: &Purge) -> StoreResult<Purged> {
        let pool = &self.pool;
        // Each batch is one statement, committed on its own, so no row stays locked longer than
        // it; rows another transaction holds are left for the next round rather than waited
        // for, so instances purging at once never deadlock. The rows are found by their physical
        // address (`ctid`): the DELETE then reads just those rows, whatever the table's key, and
        // the lock taken on each row keeps that address from changing in between.
        common::purge_in_batches(
            now,
            purge,
            |p| {
                format!(
                    "DELETE FROM {0} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {0} WHERE {1} LIMIT $2 FOR UPDATE SKIP LOCKED))",
                    p.table, p.done
                )
            },
            |sql, cutoff, limit| async move {
                Ok(sqlx::query(&sql).bind(cutoff).bind(limit).execute(pool).await?.rows_affected())
            },
        )
        .await
    }

    async fn live_codes(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<LiveCode>> {
        let rows: Vec<LiveCodeRow> = sqlx::query_as(
            "SELECT id, phone, code_hash, expires_at FROM sms_codes \
             WHERE user_id = $1 AND expires_at > $2 AND consumed_at IS NULL ORDER BY created_at",
        )
        .bind(user_id)
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(common::live_code).collect())
    }

    async fn redeem_code(&self, code_id: &str, session: &NewSession, used_key: Option<&UsedKey>) -> StoreResult<bool> {
        let now = to_millis(session.created_at);
        let mut tx = self.pool.begin().await?;
        // The user's codes and wrong-code count change together here and in `record_code_failure`:
        // one of the two at a time, always locking the user before any row.
        lock(&mut tx, vec![user_lock(&session.user_id)]).await?;
        // A concurrent redemption of this code waits for this row, then finds it consumed.
        let phone: Option<String> = sqlx::query_scalar(common::CONSUME_CODE)
            .bind(now)
            .bind(code_id)
            .bind(&session.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(phone) = phone else {
            return Ok(false);
        };
        // The first accepted code invalidates every other one (DocSpace's rule).
        sqlx::query(common::KILL_LIVE_CODES).bind(now).bind(&session.user_id).execute(&mut *tx).await?;
        // One activation of a number at a time, so two users never both activate it. Taken after
        // the user's lock, as everywhere else.
        lock(&mut tx, vec![phone_lock(&phone)]).await?;
        sqlx::query(common::ACTIVATE_PHONE).bind(&session.user_id).bind(&phone).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM code_failures WHERE user_id = $1").bind(&session.user_id).execute(&mut *tx).await?;
        if !burn_key_and_insert_session(&mut tx, session, used_key).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn start_session(&self, session: &NewSession, used_key: Option<&UsedKey>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if !burn_key_and_insert_session(&mut tx, session, used_key).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn is_key_used(&self, key_hash: &str) -> StoreResult<bool> {
        let used: Option<bool> = sqlx::query_scalar("SELECT TRUE FROM used_confirm_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(used.is_some())
    }

    async fn record_code_failure(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
        window_ms: i64,
        max: u32,
    ) -> StoreResult<CodeFailure> {
        let now = to_millis(now);
        let mut tx = self.pool.begin().await?;
        // Serialised per user with `redeem_code`: the count and the kill below are one step.
        lock(&mut tx, vec![user_lock(user_id)]).await?;
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO code_failures (user_id, failures, window_ends_at) VALUES ($1, 1, $2 + $3) \
             ON CONFLICT (user_id) DO UPDATE SET \
               failures = CASE WHEN code_failures.window_ends_at <= $2 THEN 1 ELSE code_failures.failures + 1 END, \
               window_ends_at = CASE WHEN code_failures.window_ends_at <= $2 THEN $2 + $3 \
                                ELSE code_failures.window_ends_at END \
             RETURNING failures",
        )
        .bind(user_id)
        .bind(now)
        .bind(window_ms)
        .fetch_one(&mut *tx)
        .await?;
        let outcome = if failures >= i64::from(max) {
            sqlx::query(common::KILL_LIVE_CODES).bind(now).bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM code_failures WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            CodeFailure::LimitReached
        } else {
            CodeFailure::Counted(u32::try_from(failures).unwrap_or(u32::MAX))
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn admit_login_attempt(
        &self,
        login: &str,
        ip: &str,
        now: DateTime<Utc>,
        window_ms: i64,
        max: u32,
        block_ms: i64,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let now = to_millis(now);
        let mut tx = self.pool.begin().await?;
        // One attempt of the pair at a time: the read below and the write after it are one step.
        lock(&mut tx, vec![login_lock(login, ip)]).await?;
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT failures, window_ends_at, blocked_until FROM login_failures WHERE login = $1 AND ip = $2",
        )
        .bind(login)
        .bind(ip)
        .fetch_optional(&mut *tx)
        .await?;
        let (failures, window_ends_at, blocked_until) =
            match common::admit_login_attempt(row, now, window_ms, max, block_ms) {
                Admission::Blocked(until) => return Ok(Some(from_millis(until))),
                Admission::Counted { failures, window_ends_at, blocked_until } => {
                    (failures, window_ends_at, blocked_until)
                }
            };
        sqlx::query(
            "INSERT INTO login_failures (login, ip, failures, window_ends_at, blocked_until) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (login, ip) DO UPDATE SET failures = EXCLUDED.failures, \
               window_ends_at = EXCLUDED.window_ends_at, blocked_until = EXCLUDED.blocked_until",
        )
        .bind(login)
        .bind(ip)
        .bind(failures)
        .bind(window_ends_at)
        .bind(blocked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn refund_login_attempt(&self, login: &str, ip: &str) -> StoreResult<()> {
        under_login_lock(&self.pool, common::REFUND_LOGIN_ATTEMPT, login, ip).await
    }

    async fn clear_login_failures(&self, login: &str, ip: &str) -> StoreResult<()> {
        under_login_lock(&self.pool, "DELETE FROM login_failures WHERE login = $1 AND ip = $2", login, ip).await
    }

    async fn admit_account_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
        rule: &AccountRule,
        captcha_passed: bool,
    ) -> StoreResult<AccountAdmission> {
        let now = to_millis(now);
        let mut tx = self.pool.begin().await?;
        // One attempt of the account at a time, whichever instance: the read and the write are one step.
        lock(&mut tx, vec![account_lock(account)]).await?;
        let row: Option<(i64, i64)> =
            sqlx::query_as(common::SELECT_ACCOUNT).bind(account).fetch_optional(&mut *tx).await?;
        let (failures, next_allowed_at) = match common::admit_account_attempt(row, now, rule, captcha_passed) {
            Ok(counted) => counted,
            Err(refused) => return Ok(refused),
        };
        sqlx::query(common::UPSERT_ACCOUNT)
            .bind(account)
            .bind(failures)
            .bind(next_allowed_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let wait_set = (next_allowed_at > 0).then(|| from_millis(next_allowed_at));
        Ok(AccountAdmission::Admitted { wait_set })
    }

    async fn refund_account_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
        wait_set: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Under the admission's lock: its read and write never straddle this.
        lock(&mut tx, vec![account_lock(account)]).await?;
        sqlx::query(common::REFUND_ACCOUNT)
            .bind(account)
            .bind(to_millis(now))
            .bind(wait_set.map_or(-1, to_millis))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_account_failures(&self, account: &str) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, vec![account_lock(account)]).await?;
        let failures: Option<i64> =
            sqlx::query_scalar(common::CLEAR_ACCOUNT).bind(account).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(common::count(failures.unwrap_or(0)))
    }

    async fn account_failures(&self, account: &str) -> StoreResult<u32> {
        let row: Option<(i64, i64)> =
            sqlx::query_as(common::SELECT_ACCOUNT).bind(account).fetch_optional(&self.pool).await?;
        Ok(common::count(row.map_or(0, |(failures, _)| failures)))
    }

    async fn find_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, user_id, expires_at FROM sessions \
             WHERE token_hash = $1 AND expires_at > $2 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(common::session))
    }

    async fn revoke_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(to_millis(now))
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_keep_parts_apart() {
        // Every instance must compute the same key, whatever its build.
        assert_eq!(lock_key("phone", &["+12015550123"]), lock_key("phone", &["+12015550123"]));
        assert_ne!(lock_key("login", &["ab", "c"]), lock_key("login", &["a", "bc"]));
        assert_ne!(lock_key("user", &["x"]), lock_key("phone", &["x"]));
        assert_eq!(lock_key("user", &["u"]), 1_582_289_951_610_579_998, "the key of a fixed input never changes");
    }
}
