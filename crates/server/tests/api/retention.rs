//! Retention (issue 10): rows in a final state are kept `retention_days` after they ended, then
//! the housekeeping purge deletes them in batches; live rows, and rows that still matter, stay.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::helpers::*;

const DAY_MS: i64 = 86_400_000;

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Logs Alice in through a login link (`sendsms` with the link, then its code): a code, its SMS,
/// a used key and a session. Returns the session token.
async fn log_in_with_link(app: &TestApp) -> String {
    let user = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap();
    let link = app.auth.login_link(&user);
    let query = link.split_once('?').expect("a query string").1;
    let key = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "key").unwrap().1.into_owned();
    let confirm = json!({"email": EMAIL, "key": key, "first": false});
    assert_eq!(app.send_sms(&json!({"confirmData": confirm})).await.status(), 200);
    let redeem = json!({"confirmData": confirm, "code": app.last_code()});
    let response = app.post_raw("/api/2.0/authentication/c", "application/json", redeem.to_string()).await;
    assert_eq!(response.status(), 200);
    json_of(response).await["response"]["token"].as_str().unwrap().to_owned()
}

/// Logs Alice in with her password and a code: a code, its SMS and a session.
async fn log_in_with_code(app: &TestApp) -> String {
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    let mut body = login_body();
    body["code"] = json!(app.last_code());
    let response = app.post_raw("/api/2.0/authentication/c", "application/json", body.to_string()).await;
    assert_eq!(response.status(), 200);
    json_of(response).await["response"]["token"].as_str().unwrap().to_owned()
}

async fn log_out(app: &TestApp, token: &str) {
    let logout = app.http.post(app.url("/api/2.0/authentication/logout")).header("Authorization", token);
    assert_eq!(logout.send().await.unwrap().status(), 200);
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.query::<(i64,)>(&format!("SELECT COUNT(*) FROM {table}")).await[0].0
}

fn purged(app: &TestApp, table: &str) -> u64 {
    app.auth.metrics().rows_purged.with_label_values(&[table]).get()
}

#[backend_test]
async fn final_rows_are_kept_for_the_retention_period_then_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    // Day 0: a session that will expire (14 days), and one ended at once by a logout.
    log_in_with_code(&app).await;
    let token = log_in_with_link(&app).await;
    log_out(&app, &token).await;

    // Day 20: nothing has ended 30 days ago yet, so nothing final goes: not the expired session,
    // not the logged-out one, not the expired codes, the sent messages or the used key.
    app.advance(Duration::days(20));
    let t1 = app.auth.now();
    app.auth.outbox_worker().purge().await.unwrap();
    for (table, rows) in [("sessions", 2), ("sms_codes", 2), ("sms_outbox", 2), ("used_confirm_keys", 1)] {
        assert_eq!(count(&app, table).await, rows, "{table} at day 20");
    }
    log_in_with_link(&app).await;

    // Day 45: day 0's rows ended more than 30 days ago; day 20's less.
    app.advance(Duration::days(25));
    let t2 = app.auth.now();
    // A live session, its used key (the key has not expired yet), a consumed code and its SMS ...
    log_in_with_link(&app).await;
    // ... and a live code whose SMS is queued, with its text (the provider is down).
    app.advance(Duration::seconds(1));
    std::fs::remove_file(app.outbox_path()).unwrap();
    std::fs::create_dir_all(app.outbox_path()).unwrap();
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);

    app.auth.outbox_worker().purge().await.unwrap();

    let sessions: Vec<(i64, Option<i64>)> =
        app.query("SELECT created_at, revoked_at FROM sessions ORDER BY created_at").await;
    assert_eq!(sessions, [(ms(t1), None), (ms(t2), None)], "the expired day-20 session and the live one stay");
    let codes: Vec<(i64, bool)> =
        app.query("SELECT created_at, consumed_at IS NULL FROM sms_codes ORDER BY created_at").await;
    let t3 = ms(t2) + 1_000;
    assert_eq!(codes, [(ms(t1), false), (ms(t2), false), (t3, true)], "day 20's code, today's, the live one");
    let messages: Vec<(i64, String, bool)> =
        app.query("SELECT created_at, state, payload IS NOT NULL FROM sms_outbox ORDER BY created_at").await;
    assert_eq!(
        messages,
        [(ms(t1), "sent".to_owned(), false), (ms(t2), "sent".to_owned(), false), (t3, "queued".to_owned(), true)],
        "day 20's SMS, today's, and the queued one with its text"
    );
    let keys: Vec<(i64,)> = app.query("SELECT expires_at FROM used_confirm_keys ORDER BY expires_at").await;
    assert_eq!(keys, [(ms(t1) + 3_600_000,), (ms(t2) + 3_600_000,)], "day 20's key and today's unexpired one");

    for (table, rows) in [("sessions", 2), ("sms_codes", 2), ("sms_outbox", 2), ("used_confirm_keys", 1)] {
        assert_eq!(purged(&app, table), rows, "rows_purged_total of {table}");
    }
    let metrics = app.auth.metrics().render(app.auth.store().as_ref()).await.unwrap();
    assert!(metrics.contains("docspace_auth_rows_purged_total{table=\"sessions\"} 2"), "{metrics}");
}

/// `INSERT INTO {into} {select}` once for each `i` in 1..=`n`, in one statement.
async fn insert_many(app: &TestApp, into: &str, n: u32, select: &str) {
    let sql = format!(
        "INSERT INTO {into} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) {select} FROM n"
    );
    app.query::<(i64,)>(&sql).await;
}

/// Waits until the purge the server runs as it starts has run (it reports every table), so that
/// it cannot run beside the test's own.
async fn wait_for_the_first_purge(app: &TestApp) {
    let purged = || async {
        let metrics = app.auth.metrics().render(app.auth.store().as_ref()).await.unwrap();
        (metrics.lines().filter(|l| l.starts_with("docspace_auth_rows_purged_total{")).count() == 8).then_some(())
    };
    wait_until(purged).await.expect("the server never ran its first purge");
}

#[backend_test]
async fn a_backlog_of_final_rows_goes_in_batches_and_nothing_else_goes(backend: Backend) {
    let app = spawn_app(backend).await;
    wait_for_the_first_purge(&app).await;
    app.add_alice().await;
    let user = app.auth.store().find_user_by_login(EMAIL).await.unwrap().unwrap().id;
    let now = ms(app.auth.now());
    let retained = now - 30 * DAY_MS;
    // 2 500 final rows of each kind (more than two batches of 1 000), ended years ago.
    insert_many(
        &app,
        "sessions (id, token_hash, user_id, created_at, expires_at, revoked_at)",
        2_500,
        &format!("SELECT 'old-' || i, 'old-' || i, '{user}', i, i + 1000, CASE WHEN i % 2 = 0 THEN i + 10 END"),
    )
    .await;
    insert_many(
        &app,
        "sms_codes (id, user_id, phone, code_hash, created_at, expires_at, consumed_at)",
        2_500,
        &format!("SELECT 'old-' || i, '{user}', '{PHONE_E164}', 'h', i, i + 600, CASE WHEN i % 2 = 0 THEN i + 5 END"),
    )
    .await;
    insert_many(
        &app,
        "sms_outbox (id, user_id, phone, state, next_attempt_at, expires_at, created_at, updated_at)",
        2_500,
        &format!(
            "SELECT 'old-' || i, '{user}', '{PHONE_E164}', \
             CASE i % 4 WHEN 0 THEN 'sent' WHEN 1 THEN 'delivered' WHEN 2 THEN 'undelivered' ELSE 'failed' END, \
             i, i + 600, i, i + 1"
        ),
    )
    .await;
    insert_many(&app, "used_confirm_keys (key_hash, expires_at)", 2_500, "SELECT 'old-' || i, i").await;

    // What stays. Sessions: live; ended a millisecond short of 30 days ago (revoked, expired).
    let sessions = [
        ("live", now + DAY_MS, "NULL".to_owned()),
        ("revoked", now + DAY_MS, (retained + 1).to_string()),
        ("expired", retained + 1, "NULL".to_owned()),
    ];
    for (id, expires, revoked) in sessions {
        app.query::<(i64,)>(&format!(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at, revoked_at) \
             VALUES ('{id}', '{id}', '{user}', 0, {expires}, {revoked})"
        ))
        .await;
    }
    // Codes: one for each message with a text below, live (written first: the worker drops the
    // text of a message without one); one consumed but unexpired; one expired a millisecond short
    // of 30 days ago.
    let later = now + DAY_MS;
    let codes = [
        ("queued", later, "NULL"),
        ("sending", later, "NULL"),
        ("failed-with-text", later, "NULL"),
        ("used", now + 1, "0"),
        ("expired", retained + 1, "NULL"),
    ];
    for (id, expires, consumed) in codes {
        app.query::<(i64,)>(&format!(
            "INSERT INTO sms_codes (id, user_id, phone, code_hash, created_at, expires_at, consumed_at) \
             VALUES ('{id}', '{user}', '{PHONE_E164}', 'h', 0, {expires}, {consumed})"
        ))
        .await;
    }
    // Messages last changed long ago but not final, or final and still holding their text (failed
    // for good: an operator may retry it while its code lives), not due (so the worker leaves them
    // alone); and one final, textless message changed a millisecond short of 30 days ago.
    let text = if backend == Backend::Postgres { "'\\x00'::bytea" } else { "X'00'" };
    let messages = [
        ("queued", "queued", text, 0),
        ("sending", "sending", text, 0),
        ("failed-with-text", "failed", text, 0),
        ("sent-recently", "sent", "NULL", retained + 1),
    ];
    for (id, state, payload, updated) in messages {
        app.query::<(i64,)>(&format!(
            "INSERT INTO sms_outbox (id, user_id, phone, payload, state, next_attempt_at, locked_until, expires_at, \
             created_at, updated_at) \
             VALUES ('{id}', '{user}', '{PHONE_E164}', {payload}, '{state}', {later}, {later}, {later}, 0, {updated})"
        ))
        .await;
    }
    // Used keys: before their expiry; expired a millisecond short of 30 days ago.
    for (key, expires) in [("unexpired", now + 1), ("expired", retained + 1)] {
        app.query::<(i64,)>(&format!(
            "INSERT INTO used_confirm_keys (key_hash, expires_at) VALUES ('{key}', {expires})"
        ))
        .await;
    }

    app.auth.outbox_worker().purge().await.unwrap();

    for table in ["sessions", "sms_codes", "sms_outbox", "used_confirm_keys"] {
        assert_eq!(purged(&app, table), 2_500, "{table}: every final row in one purge, batch after batch");
    }
    // Sorted here: PostgreSQL's collation may not sort as bytes do.
    let ids = |table: &'static str, key: &'static str| {
        let app = &app;
        async move {
            let rows: Vec<(String,)> = app.query(&format!("SELECT {key} FROM {table}")).await;
            let mut ids: Vec<String> = rows.into_iter().map(|(id,)| id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids("sessions", "id").await, ["expired", "live", "revoked"]);
    assert_eq!(ids("sms_codes", "id").await, ["expired", "failed-with-text", "queued", "sending", "used"]);
    assert_eq!(ids("sms_outbox", "id").await, ["failed-with-text", "queued", "sending", "sent-recently"]);
    assert_eq!(ids("used_confirm_keys", "key_hash").await, ["expired", "unexpired"]);
    let mut messages: Vec<(String, String, bool)> =
        app.query("SELECT id, state, payload IS NOT NULL FROM sms_outbox WHERE payload IS NOT NULL").await;
    messages.sort();
    let with_text = [("failed-with-text", "failed"), ("queued", "queued"), ("sending", "sending")];
    assert_eq!(messages, with_text.map(|(id, state)| (id.to_owned(), state.to_owned(), true)), "untouched");

    // A millisecond later, the rows that ended just short of 30 days ago go too.
    app.advance(Duration::milliseconds(1));
    app.auth.outbox_worker().purge().await.unwrap();
    assert_eq!(ids("sessions", "id").await, ["live"]);
    assert_eq!(ids("sms_codes", "id").await, ["failed-with-text", "queued", "sending", "used"]);
    assert_eq!(ids("sms_outbox", "id").await, ["failed-with-text", "queued", "sending"]);
    assert_eq!(ids("used_confirm_keys", "key_hash").await, ["unexpired"]);
}

#[test]
fn retention_days_is_a_setting_and_must_be_positive() {
    use docspace_auth_server::config::{Overrides, Settings};
    assert_eq!(Settings::default().retention_days, 30);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docspace-auth.toml");
    std::fs::write(&file, "retention_days = 7\n").unwrap();
    assert_eq!(Settings::load(Some(&file), &Overrides::default()).unwrap().retention_days, 7);
    std::fs::write(&file, "retention_days = 0\n").unwrap();
    let error = Settings::load(Some(&file), &Overrides::default()).unwrap_err().to_string();
    assert!(error.contains("retention_days must be positive"), "{error}");
}
