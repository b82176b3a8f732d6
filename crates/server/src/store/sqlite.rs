//! The embedded SQLite store.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{CodeIssue, NewCode, Store, StoreError, StoreResult, User, from_millis, to_millis};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed code survives power loss, not just a process crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn user_from_row(row: &SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_salt: row.try_get("password_salt")?,
        password_hash: row.try_get("password_hash")?,
        mobile_phone: row.try_get("mobile_phone")?,
        phone_activated: row.try_get("phone_activated")?,
        disabled: row.try_get("disabled")?,
        created_at: from_millis(row.try_get("created_at")?),
    })
}

const USER_COLUMNS: &str =
    "id, email, password_salt, password_hash, mobile_phone, phone_activated, disabled, created_at";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn portal_setting_or_init(&self, key: &str, default: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO portal_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(default)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM portal_settings WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, password_salt, password_hash, mobile_phone, phone_activated, disabled, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_salt)
        .bind(&user.password_hash)
        .bind(&user.mobile_phone)
        .bind(user.phone_activated)
        .bind(user.disabled)
        .bind(to_millis(user.created_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Conflict(format!("a user with email {} already exists", user.email)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = lower(?1) OR id = ?1"))
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows =
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    async fn set_mobile_phone(&self, user_id: &str, phone: Option<&str>) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE users SET mobile_phone = ?, phone_activated = 0 WHERE id = ?")
            .bind(phone)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn remove_user(&self, user_id: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM users WHERE id = ?").bind(user_id).execute(&self.pool).await?;
        Ok(result.rows_affected() == 1)
    }

    async fn issue_code(&self, code: &NewCode, max_live_per_phone: u32) -> StoreResult<CodeIssue> {
        let now = to_millis(code.created_at);
        // Starting with a write takes SQLite's write lock at once, so the count below cannot be
        // raced by another connection between the check and the insert.
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sms_codes WHERE phone = ? AND expires_at <= ?")
            .bind(&code.phone)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO sms_codes (id, user_id, phone, code_hash, created_at, expires_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
             WHERE (SELECT COUNT(*) FROM sms_codes \
                    WHERE phone = ?3 AND expires_at > ?5 AND consumed_at IS NULL) < ?7",
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
        let (live, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(expires_at) FROM sms_codes \
             WHERE phone = ? AND expires_at > ? AND consumed_at IS NULL",
        )
        .bind(&code.phone)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let oldest = oldest.map(from_millis).unwrap_or(code.expires_at);
        Ok(if inserted {
            CodeIssue::Issued { live_codes: u32::try_from(live).unwrap_or(u32::MAX), oldest_expires_at: oldest }
        } else {
            CodeIssue::CapReached { retry_at: oldest }
        })
    }

    async fn withdraw_code(&self, code_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sms_codes WHERE id = ?").bind(code_id).execute(&self.pool).await?;
        Ok(())
    }
}
