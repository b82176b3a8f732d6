//! What the backends share: the shapes rows are read in, and the rules a transaction applies to
//! what it read. Only the SQL and the way each backend makes a step atomic differ.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{
    AccountAdmission, AccountRule, ClaimedMessage, CodeIssue, LiveCode, MessageRecord, PhoneChange, PhoneSource, Purge,
    Purged, SendCap, Session, StoreError, StoreResult, User, from_millis, to_millis,
};

pub(super) const USER_COLUMNS: &str =
    "id, email, password_salt, password_hash, mobile_phone, phone_activated, phone_source, disabled, created_at";

/// The columns of `USER_COLUMNS`, in order.
pub(super) type UserRow = (String, String, String, String, Option<String>, bool, Option<String>, bool, i64);

// Statements both backends run as written: `$N` placeholders, which sqlx's SQLite driver binds by
// number too, and nothing one dialect lacks.

/// Adds user ($1..$9 in `USER_COLUMNS` order) unless another user has activated the phone ($5).
pub(super) const INSERT_USER: &str = "INSERT INTO users (id, email, password_salt, password_hash, mobile_phone, \
     phone_activated, phone_source, disabled, created_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
     WHERE NOT EXISTS (SELECT 1 FROM users WHERE mobile_phone = $5 AND phone_activated)";

/// Whether another user than $2 has activated the number $1.
pub(super) const PHONE_IN_USE: &str = "SELECT 1 FROM users WHERE mobile_phone = $1 AND phone_activated AND id <> $2";

/// An administrator's phone ($1, source $2) for user $3.
pub(super) const SET_ADMIN_PHONE: &str =
    "UPDATE users SET mobile_phone = $1, phone_source = $2, phone_activated = FALSE WHERE id = $3";

/// The phone $1 user $2 chose, unless theirs is activated or an administrator's, or another user
/// has activated the number: one statement, so the checks and the write cannot be raced apart.
pub(super) const SET_OWN_PHONE: &str = "UPDATE users SET mobile_phone = $1, phone_source = 'self', \
     phone_activated = FALSE \
     WHERE id = $2 AND NOT phone_activated AND (mobile_phone IS NULL OR phone_source = 'self') \
     AND NOT EXISTS (SELECT 1 FROM users other \
                     WHERE other.mobile_phone = $1 AND other.phone_activated AND other.id <> $2)";

/// Kills every live code of user $2 at $1.
pub(super) const KILL_LIVE_CODES: &str =
    "UPDATE sms_codes SET consumed_at = $1 WHERE user_id = $2 AND consumed_at IS NULL";

/// Activates user $1's phone if it is still $2 and no other user has activated that number.
pub(super) const ACTIVATE_PHONE: &str = "UPDATE users SET phone_activated = TRUE \
     WHERE id = $1 AND mobile_phone = $2 \
     AND NOT EXISTS (SELECT 1 FROM users other \
                     WHERE other.mobile_phone = $2 AND other.phone_activated AND other.id <> $1)";

pub(super) const SELECT_ACCOUNT: &str = "SELECT failures, next_allowed_at FROM account_failures WHERE account = $1";

pub(super) const UPSERT_ACCOUNT: &str = "INSERT INTO account_failures (account, failures, next_allowed_at, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (account) DO UPDATE SET failures = excluded.failures, \
     next_allowed_at = excluded.next_allowed_at, updated_at = excluded.updated_at";

/// Takes back one attempt of account $1 at $2, and the wait it set ($3, -1 for none) if that is
/// still the account's: a later attempt's wait stays.
pub(super) const REFUND_ACCOUNT: &str = "UPDATE account_failures \
     SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, \
     next_allowed_at = CASE WHEN next_allowed_at = $3 THEN 0 ELSE next_allowed_at END, updated_at = $2 \
     WHERE account = $1";

/// Whether user $1's phone is still $2.
pub(super) const PHONE_ON_FILE: &str = "SELECT 1 FROM users WHERE id = $1 AND mobile_phone = $2";

/// Consumes code $2 of user $3 at $1 if it is live and went to the phone the user has now: a code
/// sent to a number since replaced logs nobody in.
pub(super) const CONSUME_CODE: &str = "UPDATE sms_codes SET consumed_at = $1 \
     WHERE id = $2 AND user_id = $3 AND consumed_at IS NULL AND expires_at > $1 \
     AND phone = (SELECT mobile_phone FROM users WHERE id = $3) RETURNING phone";

/// A removed user's ($1) failure count goes with it.
pub(super) const FORGET_USER_ACCOUNT: &str = "DELETE FROM account_failures WHERE account = 'user:' || $1";

pub(super) const CLEAR_ACCOUNT: &str = "DELETE FROM account_failures WHERE account = $1 RETURNING failures";

/// Counts of unknown logins nobody has tried for this long are forgotten; known users' counts end
/// only with a successful login or an unlock.
pub(super) const DAY_MS: i64 = 86_400_000;

/// `RETURNING id, phone, payload, attempts, created_at, expires_at, locked_until` of a claimed
/// message.
pub(super) type ClaimedRow = (String, String, Vec<u8>, i64, i64, i64, i64);

/// What a purge condition's `$1` is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cutoff {
    /// The present: bookkeeping whose window has ended.
    Now,
    /// `retention` ago: final rows kept for their retention period.
    Retained,
    /// A day ago.
    DayAgo,
}

/// Rows of `table` that `purge_expired` deletes: those where `done` (a condition on `$1`, the
/// cutoff) holds. See [`super::Purge`] for the rules.
pub(super) struct Purgeable {
    pub table: &'static str,
    pub done: &'static str,
    pub cutoff: Cutoff,
}

/// Every table `purge_expired` keeps in bounds, and when its rows go.
pub(super) const PURGEABLE: [Purgeable; 8] = [
    // Revoked sessions have `revoked_at` < `expires_at`: they ended then.
    Purgeable { table: "sessions", done: "COALESCE(revoked_at, expires_at) <= $1", cutoff: Cutoff::Retained },
    // Expired, so no longer live whether used or not.
    Purgeable { table: "sms_codes", done: "expires_at <= $1", cutoff: Cutoff::Retained },
    // Final and without its text: queued, sending, and failed messages an operator may still
    // retry (their text stays until the code dies) never match.
    Purgeable {
        table: "sms_outbox",
        done: "payload IS NULL AND state IN ('sent', 'delivered', 'undelivered', 'failed') AND updated_at <= $1",
        cutoff: Cutoff::Retained,
    },
    // Only after the key expired, since until then the row is what refuses a replay.
    Purgeable { table: "used_confirm_keys", done: "expires_at <= $1", cutoff: Cutoff::Retained },
    Purgeable { table: "login_failures", done: "window_ends_at <= $1 AND blocked_until <= $1", cutoff: Cutoff::Now },
    Purgeable { table: "send_counters", done: "window_ends_at <= $1", cutoff: Cutoff::Now },
    Purgeable { table: "code_failures", done: "window_ends_at <= $1", cutoff: Cutoff::Now },
    // Known users' counts end only with a successful login or an unlock.
    Purgeable {
        table: "account_failures",
        done: "account LIKE 'login:%' AND updated_at <= $1",
        cutoff: Cutoff::DayAgo,
    },
];

/// Runs the purge `Store::purge_expired` describes: for each table, `delete_batch(sql, cutoff,
/// batch_size)` until a batch deletes fewer than `batch_size` rows, `sql` being `batch_sql` of
/// the table. Each batch is its own transaction, and the next one waits at least as long as the
/// last one took: a backlog never keeps other writers (on SQLite, every other writer) waiting
/// for more than one batch.
pub(super) async fn purge_in_batches<F, Fut>(
    now: DateTime<Utc>,
    purge: &Purge,
    batch_sql: impl Fn(&Purgeable) -> String,
    mut delete_batch: F,
) -> StoreResult<Purged>
where
    F: FnMut(String, i64, i64) -> Fut,
    Fut: Future<Output = Result<u64, sqlx::Error>>,
{
    const LEAST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
    let now = to_millis(now);
    let batch_size = purge.batch_size.max(1);
    let mut purged = Vec::with_capacity(PURGEABLE.len());
    for purgeable in &PURGEABLE {
        let cutoff = match purgeable.cutoff {
            Cutoff::Now => now,
            Cutoff::Retained => now.saturating_sub(purge.retention.num_milliseconds()),
            Cutoff::DayAgo => now - DAY_MS,
        };
        let sql = batch_sql(purgeable);
        let mut deleted = 0;
        loop {
            let started = std::time::Instant::now();
            let batch = delete_batch(sql.clone(), cutoff, i64::from(batch_size)).await?;
            deleted += batch;
            if batch < u64::from(batch_size) {
                break;
            }
            tokio::time::sleep(started.elapsed().max(LEAST_PAUSE)).await;
        }
        purged.push((purgeable.table, deleted));
    }
    Ok(purged)
}

pub(super) const MESSAGE_COLUMNS: &str =
    "id, phone, state, attempts, provider, provider_message_id, last_error, receipt_status, created_at, updated_at";

/// The columns of `MESSAGE_COLUMNS`, in order.
pub(super) type MessageRow =
    (String, String, String, i64, Option<String>, Option<String>, Option<String>, Option<String>, i64, i64);

/// `id, phone, code_hash, expires_at` of a code.
pub(super) type LiveCodeRow = (String, String, String, i64);

/// `id, user_id, expires_at` of a session.
pub(super) type SessionRow = (String, String, i64);

pub(super) fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn user(
    (id, email, password_salt, password_hash, mobile_phone, phone_activated, phone_source, disabled, created_at): UserRow,
) -> User {
    User {
        id,
        email,
        password_salt,
        password_hash,
        phone_source: mobile_phone.as_ref().map(|_| PhoneSource::parse(phone_source.as_deref().unwrap_or_default())),
        mobile_phone,
        phone_activated,
        disabled,
        created_at: from_millis(created_at),
    }
}

pub(super) fn claimed_message(
    (id, phone, sealed_text, attempts, created_at, expires_at, claimed_until): ClaimedRow,
) -> ClaimedMessage {
    ClaimedMessage {
        id,
        phone,
        sealed_text,
        attempts: count(attempts),
        created_at: from_millis(created_at),
        expires_at: from_millis(expires_at),
        claimed_until: from_millis(claimed_until),
    }
}

pub(super) fn message_record(
    (id, phone, state, attempts, provider, provider_message_id, last_error, receipt_status, created_at, updated_at): MessageRow,
) -> MessageRecord {
    MessageRecord {
        id,
        phone,
        state,
        attempts: count(attempts),
        provider,
        provider_message_id,
        last_error,
        receipt_status,
        created_at: from_millis(created_at),
        updated_at: from_millis(updated_at),
    }
}

pub(super) fn live_code((id, phone, code_hash, expires_at): LiveCodeRow) -> LiveCode {
    LiveCode { id, phone, code_hash, expires_at: from_millis(expires_at) }
}

pub(super) fn session((id, user_id, expires_at): SessionRow) -> Session {
    Session { id, user_id, expires_at: from_millis(expires_at) }
}

impl SendCap {
    /// Counts one more message against this cap at `now`, given its counter row
    /// `(sent, window_ends_at)` if any: the row to store, or the refusal when the cap is used up.
    pub(super) fn count_one(&self, counter: Option<(i64, i64)>, now: i64) -> Result<(i64, i64), CodeIssue> {
        let (sent, window_ends_at) = match counter {
            Some((sent, ends)) if ends > now => (sent, ends),
            _ => (0, now + self.window_ms),
        };
        if sent >= i64::from(self.limit) {
            return Err(CodeIssue::SendCapReached {
                scope: self.scope,
                limit: self.limit,
                retry_at: from_millis(window_ends_at),
            });
        }
        Ok((sent + 1, window_ends_at))
    }
}

/// What `issue_code` reports once the code was stored (`inserted`) or refused, given the phone's
/// live codes afterwards: how many, and the oldest expiry.
pub(super) fn code_issue(inserted: bool, live: i64, oldest: Option<i64>, expires_at: DateTime<Utc>) -> CodeIssue {
    let oldest = oldest.map(from_millis).unwrap_or(expires_at);
    if inserted {
        CodeIssue::Issued { live_codes: count(live), oldest_expires_at: oldest }
    } else {
        CodeIssue::CapReached { retry_at: oldest }
    }
}

/// What becomes of a login attempt.
pub(super) enum Admission {
    /// The pair is blocked until then; nothing is counted.
    Blocked(i64),
    /// Admitted: the pair's row to store.
    Counted { failures: i64, window_ends_at: i64, blocked_until: i64 },
}

/// Admits a login attempt at `now`, given the pair's row `(failures, window_ends_at, blocked_until)`
/// if any (see `Store::admit_login_attempt`). The attempt that reaches `max` blocks the pair; a
/// block that has ended starts a new window.
pub(super) fn admit_login_attempt(
    row: Option<(i64, i64, i64)>,
    now: i64,
    window_ms: i64,
    max: u32,
    block_ms: i64,
) -> Admission {
    if let Some((_, _, blocked_until)) = row
        && blocked_until > now
    {
        return Admission::Blocked(blocked_until);
    }
    let (attempts, window_ends_at) = match row {
        Some((attempts, window_ends_at, 0)) if window_ends_at > now => (attempts + 1, window_ends_at),
        _ => (1, now + window_ms),
    };
    let blocked_until = if attempts >= i64::from(max) { now + block_ms } else { 0 };
    Admission::Counted { failures: attempts, window_ends_at, blocked_until }
}

/// Takes back an admitted attempt of (`$1` login, `$2` address) whose credential was right, and
/// the block it may have set: what stays counted are failures only.
pub(super) const REFUND_LOGIN_ATTEMPT: &str = "UPDATE login_failures SET failures = failures - 1, blocked_until = 0 \
     WHERE login = $1 AND ip = $2 AND failures > 0";

/// `state, COUNT(*)` rows of the outbox as counts.
pub(super) fn state_counts(rows: Vec<(String, i64)>) -> Vec<(String, u64)> {
    rows.into_iter().map(|(state, n)| (state, u64::try_from(n).unwrap_or(0))).collect()
}

/// The outcome of `INSERT_USER`: nothing inserted means another user activated the phone.
pub(super) fn inserted_user(result: Result<u64, sqlx::Error>, user: &User) -> StoreResult<()> {
    match result {
        Ok(1) => Ok(()),
        Ok(_) => Err(StoreError::Conflict("another user has activated this mobile phone".to_owned())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::Conflict(format!("a user with email {} already exists", user.email)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Why `SET_OWN_PHONE` changed nothing, from the user's row read after it (`None`: no such user).
pub(super) fn own_phone_refusal(user: Option<&User>) -> PhoneChange {
    match user {
        None => PhoneChange::NoSuchUser,
        Some(user) if user.phone_activated => PhoneChange::Activated,
        Some(user) if user.phone_source == Some(PhoneSource::Admin) => PhoneChange::Provisioned,
        Some(_) => PhoneChange::InUse,
    }
}

/// Admits an attempt on an account at `now`, given its row `(failures, next_allowed_at)` if any
/// (see `Store::admit_account_attempt`): the row to store, or why the attempt is refused.
pub(super) fn admit_account_attempt(
    row: Option<(i64, i64)>,
    now: i64,
    rule: &AccountRule,
    captcha_passed: bool,
) -> Result<(i64, i64), AccountAdmission> {
    let (failures, next_allowed_at) = row.unwrap_or((0, 0));
    if rule.lock_after > 0 && failures >= i64::from(rule.lock_after) {
        return Err(AccountAdmission::Locked);
    }
    let guarded = failures >= i64::from(rule.captcha_after);
    if guarded && rule.captcha && !captcha_passed {
        return Err(AccountAdmission::CaptchaNeeded);
    }
    if guarded && !rule.captcha && next_allowed_at > now {
        return Err(AccountAdmission::Wait(from_millis(next_allowed_at)));
    }
    let failures = failures + 1;
    // Without a CAPTCHA, a guarded account takes one attempt per delay, whatever its outcome, so
    // that concurrent attempts cannot share one slot.
    let guard_next = !rule.captcha && failures >= i64::from(rule.captcha_after);
    Ok((failures, if guard_next { now + rule.delay_ms(failures) } else { 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: AccountRule = AccountRule { captcha_after: 3, lock_after: 6, captcha: false, max_delay_ms: 5_000 };

    #[test]
    fn account_delays_double_from_a_second_up_to_their_cap() {
        let delays: Vec<i64> = (0..8).map(|failures| RULE.delay_ms(failures)).collect();
        assert_eq!(delays, [1000, 1000, 1000, 1000, 2000, 4000, 5000, 5000]);
        let hour = AccountRule { max_delay_ms: 3_600_000, ..RULE };
        assert_eq!(hour.delay_ms(1_000_000), 3_600_000, "no overflow however many failures");
    }

    #[test]
    fn an_account_counts_freely_then_waits_then_locks() {
        let admit = |row, now, rule: &AccountRule, captcha| admit_account_attempt(Some(row), now, rule, captcha);
        assert_eq!(admit_account_attempt(None, 0, &RULE, false), Ok((1, 0)));
        assert_eq!(admit((1, 0), 0, &RULE, false), Ok((2, 0)));
        // The attempt that reaches the threshold sets the first wait.
        assert_eq!(admit((2, 0), 0, &RULE, false), Ok((3, 1000)));
        assert_eq!(admit((3, 1000), 999, &RULE, false), Err(AccountAdmission::Wait(from_millis(1000))));
        assert_eq!(admit((3, 1000), 1000, &RULE, false), Ok((4, 3000)));
        assert_eq!(admit((6, 0), 1_000_000, &RULE, false), Err(AccountAdmission::Locked));

        let captcha = AccountRule { captcha: true, ..RULE };
        assert_eq!(admit((2, 0), 0, &captcha, false), Ok((3, 0)));
        assert_eq!(admit((3, 0), 0, &captcha, false), Err(AccountAdmission::CaptchaNeeded));
        assert_eq!(admit((3, 0), 0, &captcha, true), Ok((4, 0)));
        assert_eq!(admit((6, 0), 0, &captcha, true), Err(AccountAdmission::Locked));
        // 0 never locks.
        let never = AccountRule { lock_after: 0, ..captcha };
        assert_eq!(admit((1_000, 0), 0, &never, true), Ok((1_001, 0)));
    }
}
