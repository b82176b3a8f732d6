//! What the backends share: the shapes rows are read in, and the rules a transaction applies to
//! what it read. Only the SQL and the way each backend makes a step atomic differ.

use chrono::{DateTime, Utc};

use super::{ClaimedMessage, CodeIssue, LiveCode, MessageRecord, SendCap, Session, User, from_millis};

pub(super) const USER_COLUMNS: &str =
    "id, email, password_salt, password_hash, mobile_phone, phone_activated, disabled, created_at";

/// The columns of `USER_COLUMNS`, in order.
pub(super) type UserRow = (String, String, String, String, Option<String>, bool, bool, i64);

/// `RETURNING id, phone, payload, attempts, created_at, expires_at` of a claimed message.
pub(super) type ClaimedRow = (String, String, Vec<u8>, i64, i64, i64);

pub(super) const MESSAGE_COLUMNS: &str =
    "id, phone, state, attempts, provider, provider_message_id, last_error, receipt_status, created_at, updated_at";

/// The columns of `MESSAGE_COLUMNS`, in order.
pub(super) type MessageRow =
    (String, String, String, i64, Option<String>, Option<String>, Option<String>, Option<String>, i64, i64);

/// `id, phone, code_hash, expires_at` of a code.
pub(super) type LiveCodeRow = (String, String, String, i64);

/// `id, user_id, expires_at` of a session.
pub(super) type SessionRow = (String, String, i64);

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn user(
    (id, email, password_salt, password_hash, mobile_phone, phone_activated, disabled, created_at): UserRow,
) -> User {
    User {
        id,
        email,
        password_salt,
        password_hash,
        mobile_phone,
        phone_activated,
        disabled,
        created_at: from_millis(created_at),
    }
}

pub(super) fn claimed_message(
    (id, phone, sealed_text, attempts, created_at, expires_at): ClaimedRow,
) -> ClaimedMessage {
    ClaimedMessage {
        id,
        phone,
        sealed_text,
        attempts: count(attempts),
        created_at: from_millis(created_at),
        expires_at: from_millis(expires_at),
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
/// if any (see `Store::admit_login_attempt`).
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
        Some((attempts, window_ends_at, _)) if window_ends_at > now => (attempts + 1, window_ends_at),
        _ => (1, now + window_ms),
    };
    if attempts >= i64::from(max) {
        Admission::Counted { failures: 0, window_ends_at, blocked_until: now + block_ms }
    } else {
        Admission::Counted { failures: attempts, window_ends_at, blocked_until: 0 }
    }
}

/// `state, COUNT(*)` rows of the outbox as counts.
pub(super) fn state_counts(rows: Vec<(String, i64)>) -> Vec<(String, u64)> {
    rows.into_iter().map(|(state, n)| (state, u64::try_from(n).unwrap_or(0))).collect()
}
