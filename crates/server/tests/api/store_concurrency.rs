//! The store's limits under concurrency: many connections in several pools, as several instances
//! would have, racing for the same phone, counter, login or message. SQLite serialises writers;
//! PostgreSQL must get the same answers from its locks.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use chrono::Duration;
use docspace_auth_server::store::{
    self, AccountAdmission, AccountRule, CodeFailure, CodeIssue, NewCode, NewMessage, NewSession, PhoneChange,
    PhoneSource, SendCap, Store, User,
};

use crate::helpers::*;

/// Several stores on one fresh database, each with connections of its own.
struct Stores {
    stores: Vec<Arc<dyn Store>>,
    _database: Option<PgDatabase>,
    _data: tempfile::TempDir,
}

/// Many writers at once queue for SQLite's one write lock: a generous wait, so that a loaded
/// machine does not turn a race into a timeout.
const RACE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Stores {
    async fn open(backend: Backend) -> Self {
        let database = backend.fresh_database();
        let data = tempfile::tempdir().unwrap();
        let url = match &database {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}?mode=rwc", data.path().join("store.db").display()),
        };
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(store::connect(&url, RACE_TIMEOUT).await.expect("store opens"));
        }
        let this = Self { stores, _database: database, _data: data };
        this.any().insert_user(&user("u1")).await.unwrap();
        this
    }

    fn any(&self) -> &dyn Store {
        &*self.stores[0]
    }

    /// Runs `n` copies of `task` at once, the i-th on store `i % 4`; their results in order.
    async fn race<T, F>(&self, n: usize, task: impl Fn(usize, Arc<dyn Store>) -> F) -> Vec<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let handles: Vec<_> =
            (0..n).map(|i| tokio::spawn(task(i, self.stores[i % self.stores.len()].clone()))).collect();
        let mut results = Vec::with_capacity(n);
        for handle in handles {
            results.push(handle.await.expect("task finished"));
        }
        results
    }
}

fn user(id: &str) -> User {
    User {
        id: id.into(),
        email: format!("{id}@example.com"),
        password_salt: "salt".into(),
        password_hash: "hash".into(),
        mobile_phone: Some(PHONE_E164.into()),
        phone_activated: false,
        phone_source: Some(PhoneSource::Admin),
        disabled: false,
        created_at: start_time(),
    }
}

/// A code for user `u1` to `phone`, its SMS claimable at once.
fn new_code(phone: &str) -> (NewCode, NewMessage) {
    let now = start_time();
    let id = uuid::Uuid::new_v4().to_string();
    let code = NewCode {
        code_hash: format!("hash-{id}"),
        id,
        user_id: "u1".into(),
        phone: phone.into(),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    };
    (code, NewMessage { sealed_text: b"sealed".to_vec(), claimed_until: now })
}

fn hourly(scope: &'static str, key: &str, limit: u32) -> SendCap {
    SendCap { scope, key: key.into(), limit, window_ms: 3_600_000 }
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_codes_for_one_phone_never_exceed_its_cap(backend: Backend) {
    let stores = Stores::open(backend).await;
    let issues = stores
        .race(20, |_, store| async move {
            let (code, message) = new_code(PHONE_E164);
            store.issue_code(&code, &message, 6, &[]).await.unwrap()
        })
        .await;
    let mut live_counts: Vec<u32> = issues
        .iter()
        .filter_map(|issue| match issue {
            CodeIssue::Issued { live_codes, .. } => Some(*live_codes),
            _ => None,
        })
        .collect();
    live_counts.sort();
    assert_eq!(live_counts, [1, 2, 3, 4, 5, 6], "each issue saw the ones before it: {issues:?}");
    assert_eq!(issues.iter().filter(|i| matches!(i, CodeIssue::CapReached { .. })).count(), 14);
    assert_eq!(stores.any().live_codes("u1", start_time()).await.unwrap().len(), 6);
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_count_exactly_against_their_caps(backend: Backend) {
    let stores = Stores::open(backend).await;
    // Different phones, so only the caps limit: 7 globally, and every one counts for the user.
    let issues = stores
        .race(20, |_, store| async move {
            let (code, message) = new_code(PHONE_E164);
            let caps = [hourly("user", "u1", 100), hourly("global", "", 7)];
            store.issue_code(&code, &message, 100, &caps).await.unwrap()
        })
        .await;
    assert_eq!(issues.iter().filter(|i| matches!(i, CodeIssue::Issued { .. })).count(), 7, "{issues:?}");
    assert!(
        issues
            .iter()
            .all(|i| matches!(i, CodeIssue::Issued { .. } | CodeIssue::SendCapReached { scope: "global", .. })),
        "{issues:?}"
    );
    // The user's counter holds exactly the 7 sent: an 8th fits under a limit of 8, a 9th does not.
    let store = stores.any();
    for expected_issued in [true, false] {
        let (code, message) = new_code(PHONE_E164);
        let issue = store.issue_code(&code, &message, 100, &[hourly("user", "u1", 8)]).await.unwrap();
        assert_eq!(matches!(issue, CodeIssue::Issued { .. }), expected_issued, "{issue:?}");
    }
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_login_attempts_are_counted_exactly(backend: Backend) {
    let stores = Stores::open(backend).await;
    let now = start_time();
    let attempt = |login: &'static str, max: u32| {
        move |_: usize, store: Arc<dyn Store>| async move {
            store.admit_login_attempt(login, "192.0.2.1", now, 60_000, max, 60_000).await.unwrap()
        }
    };
    // 20 at once under a limit of 21: all admitted, all counted, so the 21st blocks the pair.
    let admitted = stores.race(20, attempt("counted", 21)).await;
    assert!(admitted.iter().all(Option::is_none), "{admitted:?}");
    let store = stores.any();
    assert_eq!(store.admit_login_attempt("counted", "192.0.2.1", now, 60_000, 21, 60_000).await.unwrap(), None);
    let blocked = store.admit_login_attempt("counted", "192.0.2.1", now, 60_000, 21, 60_000).await.unwrap();
    assert_eq!(blocked, Some(now + Duration::seconds(60)));

    // 20 at once under a limit of 5: exactly 5 get through.
    let answers = stores.race(20, attempt("limited", 5)).await;
    assert_eq!(answers.iter().filter(|a| a.is_none()).count(), 5, "{answers:?}");
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_codes_reach_the_limit_exactly_once(backend: Backend) {
    let stores = Stores::open(backend).await;
    let (code, message) = new_code(PHONE_E164);
    stores.any().issue_code(&code, &message, 6, &[]).await.unwrap();
    let outcomes = stores
        .race(5, |_, store| async move { store.record_code_failure("u1", start_time(), 600_000, 5).await.unwrap() })
        .await;
    let mut counted: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            CodeFailure::Counted(n) => Some(*n),
            CodeFailure::LimitReached => None,
        })
        .collect();
    counted.sort();
    assert_eq!(counted, [1, 2, 3, 4], "{outcomes:?}");
    assert!(stores.any().live_codes("u1", start_time()).await.unwrap().is_empty(), "the fifth killed the code");
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_of_a_code_start_one_session(backend: Backend) {
    let stores = Stores::open(backend).await;
    let (code, message) = new_code(PHONE_E164);
    stores.any().issue_code(&code, &message, 6, &[]).await.unwrap();
    let code_id = code.id;
    let redeemed = stores
        .race(8, |i, store| {
            let code_id = code_id.clone();
            async move {
                let session = NewSession {
                    id: format!("s{i}"),
                    token_hash: format!("t{i}"),
                    user_id: "u1".into(),
                    created_at: start_time(),
                    expires_at: start_time() + Duration::hours(1),
                };
                store.redeem_code(&code_id, &session, None).await.unwrap()
            }
        })
        .await;
    assert_eq!(redeemed.iter().filter(|r| **r).count(), 1, "{redeemed:?}");
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_never_claim_a_message_twice(backend: Backend) {
    let stores = Stores::open(backend).await;
    for _ in 0..30 {
        let (code, message) = new_code(PHONE_E164);
        stores.any().issue_code(&code, &message, 100, &[]).await.unwrap();
    }
    // Eight workers claim until they find nothing due; a last sweep picks up anything left.
    let now = start_time();
    let mut claims: Vec<(String, u32)> = stores
        .race(8, |_, store| async move {
            let mut claimed = Vec::new();
            while let Some(message) = store.claim_message(None, now, 30_000).await.unwrap() {
                claimed.push((message.id, message.attempts));
            }
            claimed
        })
        .await
        .into_iter()
        .flatten()
        .collect();
    while let Some(message) = stores.any().claim_message(None, now, 30_000).await.unwrap() {
        claims.push((message.id, message.attempts));
    }
    let ids: HashSet<&str> = claims.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!((claims.len(), ids.len()), (30, 30), "every message claimed, none twice");
    assert!(claims.iter().all(|(_, attempts)| *attempts == 2), "one claim per message: {claims:?}");
}

fn account_rule(captcha: bool) -> AccountRule {
    AccountRule { captcha_after: 10, lock_after: 15, captcha, max_delay_ms: 3_600_000 }
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_on_an_account_pass_its_thresholds_exactly(backend: Backend) {
    let stores = Stores::open(backend).await;
    let now = start_time();
    // Without a CAPTCHA: 10 free attempts, then one per delay, whichever instance they reach.
    let rule = account_rule(false);
    let answers = stores
        .race(20, |_, store| async move { store.admit_account_attempt("user:u1", now, &rule, false).await.unwrap() })
        .await;
    let admitted = answers.iter().filter(|a| matches!(a, AccountAdmission::Admitted { .. })).count();
    assert_eq!(admitted, 10, "{answers:?}");
    let waits = answers.iter().filter(|a| **a == AccountAdmission::Wait(now + Duration::seconds(1))).count();
    assert_eq!(waits, 10, "{answers:?}");
    assert_eq!(stores.any().account_failures("user:u1").await.unwrap(), 10);

    // With a CAPTCHA passed every time: admitted up to the lock, not one more.
    let rule = account_rule(true);
    let answers = stores
        .race(20, |_, store| async move { store.admit_account_attempt("user:u1", now, &rule, true).await.unwrap() })
        .await;
    assert_eq!(answers.iter().filter(|a| matches!(a, AccountAdmission::Admitted { .. })).count(), 5, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| **a == AccountAdmission::Locked).count(), 15, "{answers:?}");
    let store = stores.any();
    assert_eq!(store.clear_account_failures("user:u1").await.unwrap(), 15);
    let admitted = store.admit_account_attempt("user:u1", now, &rule, false).await.unwrap();
    assert_eq!(admitted, AccountAdmission::Admitted { wait_set: None });
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn users_racing_to_activate_one_number_activate_it_once(backend: Backend) {
    let stores = Stores::open(backend).await;
    let mut codes = vec![("u1".to_owned(), String::new())];
    for i in 2..=6 {
        let mut other = user(&format!("u{i}"));
        other.email = format!("u{i}@example.com");
        stores.any().insert_user(&other).await.unwrap();
        codes.push((other.id, String::new()));
    }
    for (user_id, code_id) in &mut codes {
        let (mut code, message) = new_code(PHONE_E164);
        code.user_id = user_id.clone();
        stores.any().issue_code(&code, &message, 6, &[]).await.unwrap();
        *code_id = code.id;
    }
    let codes = Arc::new(codes);
    let redeemed = stores
        .race(6, |i, store| {
            let codes = codes.clone();
            async move {
                let (user_id, code_id) = &codes[i];
                let session = NewSession {
                    id: format!("s{i}"),
                    token_hash: format!("t{i}"),
                    user_id: user_id.clone(),
                    created_at: start_time(),
                    expires_at: start_time() + Duration::hours(1),
                };
                store.redeem_code(code_id, &session, None).await.unwrap()
            }
        })
        .await;
    // Each proved the number with its own code; only one may own it.
    assert!(redeemed.iter().all(|r| *r), "{redeemed:?}");
    let users = stores.any().list_users().await.unwrap();
    assert_eq!(users.iter().filter(|u| u.phone_activated).count(), 1, "{users:?}");
}

#[backend_test]
async fn a_code_to_a_number_no_longer_on_file_neither_issues_nor_redeems(backend: Backend) {
    let stores = Stores::open(backend).await;
    let store = stores.any();
    // A number the user chose (replacing it kills no code, unlike an administrator's change).
    store.set_mobile_phone("u1", None, start_time()).await.unwrap();
    assert_eq!(store.set_unactivated_phone("u1", PHONE_E164).await.unwrap(), PhoneChange::Set);
    let (code, message) = new_code(PHONE_E164);
    assert!(matches!(store.issue_code(&code, &message, 6, &[]).await.unwrap(), CodeIssue::Issued { .. }));
    assert_eq!(store.set_unactivated_phone("u1", "+447400123456").await.unwrap(), PhoneChange::Set);
    let (late, late_message) = new_code(PHONE_E164);
    assert_eq!(store.issue_code(&late, &late_message, 6, &[]).await.unwrap(), CodeIssue::PhoneChanged);
    let session = NewSession {
        id: "s".into(),
        token_hash: "t".into(),
        user_id: "u1".into(),
        created_at: start_time(),
        expires_at: start_time() + Duration::hours(1),
    };
    assert!(!store.redeem_code(&code.id, &session, None).await.unwrap());
    assert_eq!(store.live_codes("u1", start_time()).await.unwrap().len(), 1, "nothing consumed");
}

#[backend_test]
async fn a_right_credential_takes_back_its_attempt_and_only_its_own_wait(backend: Backend) {
    let stores = Stores::open(backend).await;
    let store = stores.any();
    let rule = AccountRule { captcha_after: 1, lock_after: 0, captcha: false, max_delay_ms: 3_600_000 };
    let (now, later) = (start_time(), start_time() + Duration::seconds(1));
    let admit = |at| store.admit_account_attempt("user:u1", at, &rule, false);
    assert_eq!(admit(now).await.unwrap(), AccountAdmission::Admitted { wait_set: Some(later) });
    let AccountAdmission::Admitted { wait_set } = admit(later).await.unwrap() else { panic!("admitted") };
    assert_eq!(wait_set, Some(later + Duration::seconds(2)));
    // The right password: no failure, and no wait before the code step.
    store.refund_account_attempt("user:u1", later, wait_set).await.unwrap();
    assert_eq!(store.account_failures("user:u1").await.unwrap(), 1);
    assert_eq!(admit(later).await.unwrap(), AccountAdmission::Admitted { wait_set });
    // A refund for an older attempt leaves this later attempt's wait alone.
    store.refund_account_attempt("user:u1", later, Some(later)).await.unwrap();
    assert_eq!(admit(later).await.unwrap(), AccountAdmission::Wait(later + Duration::seconds(2)));
}
