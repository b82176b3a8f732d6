//! Two server processes on one PostgreSQL database, as behind a load balancer: one shared secret,
//! a data directory each, and one development outbox standing in for the phone network. What one
//! instance starts the other finishes, and every limit holds across both.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use docspace_auth_server::crypto::random_hex;
use docspace_auth_server::store::{PostgresStore, Store};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::binary::{Server, docspace_auth};
use crate::helpers::*;

const BOB: &str = "bob@example.com";
const BOB_PHONE: &str = "+44 7400 123456";

/// Instances `a` and `b` on one fresh database, and a look into that database.
struct Pair {
    a: Server,
    b: Server,
    http: reqwest::Client,
    outbox: PathBuf,
    store: PostgresStore,
    secret: String,
    dirs: [tempfile::TempDir; 3],
    // Dropped after the servers are gone.
    database: PgDatabase,
}

impl Pair {
    /// Adds `users` (email, phone) and starts both instances with the default limits; `None` when
    /// the PostgreSQL tests are opted out of (`DOCSPACE_AUTH_SKIP_POSTGRES=1`, see `Backend::available`).
    async fn start(users: &[(&str, &str)]) -> Option<Self> {
        Self::start_with(users, &[]).await
    }

    /// `start`, with these settings (environment variables) on both instances.
    async fn start_with(users: &[(&str, &str)], settings: &[(&str, &str)]) -> Option<Self> {
        if !Backend::Postgres.available() {
            return None;
        }
        let database = Backend::Postgres.fresh_database().expect("a PostgreSQL database");
        let dirs = [(); 3].map(|_| tempfile::tempdir().unwrap());
        let outbox = dirs[2].path().join("sms-outbox.jsonl");
        let secret = random_hex(32);
        let command = |data: &Path| {
            let mut command = docspace_auth(data, Some(&database));
            command.env("DOCSPACE_AUTH__SECRET", &secret).env("DOCSPACE_AUTH__SMS__OUTBOX_FILE", &outbox).envs([
                ("DOCSPACE_AUTH__DELIVERY__FIRST_RETRY_MS", "20"),
                ("DOCSPACE_AUTH__DELIVERY__MAX_RETRY_MS", "100"),
                ("DOCSPACE_AUTH__DELIVERY__MAX_ATTEMPTS", "1000"),
                ("DOCSPACE_AUTH__DELIVERY__POLL_INTERVAL_MS", "20"),
            ]);
            command.envs(settings.iter().copied());
            command
        };
        for (email, phone) in users {
            let output = command(dirs[0].path())
                .args(["user", "add", "--email", email, "--password", PASSWORD, "--phone", phone])
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        }
        Some(Self {
            a: Server::start(command(dirs[0].path())),
            b: Server::start(command(dirs[1].path())),
            http: reqwest::Client::new(),
            outbox,
            store: PostgresStore::connect(&database.url, std::time::Duration::from_secs(10)).await.unwrap(),
            secret,
            dirs,
            database,
        })
    }

    /// The key of a login link to `email`, made by the command line as an operator makes one.
    fn login_link_key(&self, email: &str) -> String {
        let mut command = docspace_auth(self.dirs[0].path(), Some(&self.database));
        command.env("DOCSPACE_AUTH__SECRET", &self.secret).args(["user", "login-link", "--email", email]);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let link = url::Url::parse(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
        link.query_pairs().find(|(k, _)| k == "key").unwrap().1.into_owned()
    }

    /// `a` for even `i`, `b` for odd: requests split between the instances.
    fn instance(&self, i: usize) -> &Server {
        if i.is_multiple_of(2) { &self.a } else { &self.b }
    }

    async fn send_sms(&self, server: &Server, email: &str) -> u16 {
        self.send_sms_as(server, email, PASSWORD).await.status().as_u16()
    }

    async fn send_sms_as(&self, server: &Server, email: &str, password: &str) -> reqwest::Response {
        let body = json!({"userName": email, "password": password});
        let request = self.http.post(format!("{}/api/2.0/authentication/sendsms", server.base)).json(&body);
        request.send().await.unwrap()
    }

    async fn redeem(&self, server: &Server, email: &str, code: &str) -> reqwest::Response {
        let body = json!({"userName": email, "password": PASSWORD, "code": code});
        self.http.post(format!("{}/api/2.0/authentication/{code}", server.base)).json(&body).send().await.unwrap()
    }

    async fn is_authenticated(&self, server: &Server, token: &str) -> bool {
        let request = self.http.get(format!("{}/api/2.0/authentication", server.base)).header("Authorization", token);
        json_of(request.send().await.unwrap()).await["response"].as_bool().unwrap()
    }

    /// Every message delivered to the shared outbox.
    fn delivered(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.outbox) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading the outbox: {e}"),
        }
    }

    /// The codes delivered to `phone` (E.164), oldest first.
    fn codes_to(&self, phone: &str) -> Vec<String> {
        let texts = self.delivered().into_iter().filter(|m| m["to"] == phone).map(|m| m["text"].clone());
        texts.map(|text| text.as_str().unwrap().trim_start_matches("Code: ").to_owned()).collect()
    }

    fn last_code_to(&self, phone: &str) -> String {
        self.codes_to(phone).pop().expect("a code was delivered")
    }
}

/// Brute-force blocking out of the way of a test of another limit.
const NO_BLOCK: [(&str, &str); 1] = [("DOCSPACE_AUTH__BRUTE_FORCE__MAX_FAILURES", "1000")];

fn wrong_code_for(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn codes_and_sessions_from_one_instance_are_honoured_by_the_other() {
    let Some(pair) = Pair::start(&[(EMAIL, PHONE)]).await else { return };

    // A sends the code, B accepts it.
    assert_eq!(pair.send_sms(&pair.a, EMAIL).await, 200);
    assert_eq!(pair.redeem(&pair.b, EMAIL, &pair.last_code_to(PHONE_E164)).await.status(), 200);

    // A session A starts is good on B until B ends it; then it is good nowhere.
    assert_eq!(pair.send_sms(&pair.b, EMAIL).await, 200);
    let started = json_of(pair.redeem(&pair.a, EMAIL, &pair.last_code_to(PHONE_E164)).await).await;
    let token = started["response"]["token"].as_str().expect("a token").to_owned();
    assert!(pair.is_authenticated(&pair.a, &token).await);
    assert!(pair.is_authenticated(&pair.b, &token).await);
    let logout =
        pair.http.post(format!("{}/api/2.0/authentication/logout", pair.b.base)).header("Authorization", &token);
    assert_eq!(logout.send().await.unwrap().status(), 200);
    assert!(!pair.is_authenticated(&pair.a, &token).await);
    assert!(!pair.is_authenticated(&pair.b, &token).await);
}

#[tokio::test]
async fn the_live_code_cap_holds_across_instances() {
    // Twelve attempts at once from one address are counted before their passwords are checked,
    // and would block it (see `brute_force`): only the live codes count here.
    let Some(pair) = Pair::start_with(&[(EMAIL, PHONE)], &NO_BLOCK).await else { return };
    let statuses = join_all((0..12).map(|i| pair.send_sms(pair.instance(i), EMAIL))).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 6, "{statuses:?}");
    assert_eq!(pair.codes_to(PHONE_E164).len(), 6);
}

#[tokio::test]
async fn the_wrong_code_limit_holds_across_instances() {
    // The five wrong codes from one address would block it (tested below): only the code counts.
    let Some(pair) = Pair::start_with(&[(EMAIL, PHONE), (BOB, BOB_PHONE)], &NO_BLOCK).await else { return };

    // Four wrong codes at once, split between the instances, are tolerated...
    assert_eq!(pair.send_sms(&pair.a, BOB).await, 200);
    let code = pair.last_code_to("+447400123456");
    let wrong = join_all((0..4).map(|i| pair.redeem(pair.instance(i), BOB, wrong_code_for(&code)))).await;
    assert!(wrong.iter().all(|r| r.status() == 401));
    assert_eq!(pair.redeem(&pair.b, BOB, &code).await.status(), 200);

    // ...the fifth kills the code, whichever instance counts it.
    assert_eq!(pair.send_sms(&pair.b, EMAIL).await, 200);
    let code = pair.last_code_to(PHONE_E164);
    let wrong = join_all((0..5).map(|i| pair.redeem(pair.instance(i), EMAIL, wrong_code_for(&code)))).await;
    assert!(wrong.iter().all(|r| r.status() == 401));
    assert_eq!(pair.redeem(&pair.a, EMAIL, &code).await.status(), 401);
    let alice = pair.store.find_user_by_login(EMAIL).await.unwrap().unwrap();
    assert!(pair.store.live_codes(&alice.id, chrono::Utc::now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn two_workers_deliver_every_message_exactly_once() {
    let users = [EMAIL, BOB, "carol@example.com", "dan@example.com"];
    let phones = ["+44 7400 123450", "+44 7400 123451", "+44 7400 123452", "+44 7400 123453"];
    let accounts: Vec<(&str, &str)> = users.into_iter().zip(phones).collect();
    let Some(mut pair) = Pair::start(&accounts).await else { return };

    // The provider is down (its file is a directory): each instance queues 10 messages.
    std::fs::create_dir(&pair.outbox).unwrap();
    let statuses = join_all((0..20).map(|i| pair.send_sms(pair.instance(i), users[i % 4]))).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let queued: HashSet<String> =
        pair.store.list_messages(None, 100).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(queued.len(), 20);

    // The provider is back: both instances' workers race for the messages.
    std::fs::remove_dir(&pair.outbox).unwrap();
    let all_sent = || async { (pair.store.list_messages(Some("sent"), 100).await.unwrap().len() == 20).then_some(()) };
    wait_until(all_sent).await.expect("every message recorded sent");
    // Recorded sent is final; stopping both gracefully lets any send still under way (a duplicate,
    // were claims not exclusive) land in the file before it is read.
    pair.a.terminate();
    pair.b.terminate();
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for message in pair.delivered() {
        *deliveries.entry(message["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(deliveries.keys().cloned().collect::<HashSet<_>>(), queued, "every message delivered");
    assert!(deliveries.values().all(|n| *n == 1), "no message twice: {deliveries:?}");
}

#[tokio::test]
async fn the_hourly_cap_per_account_holds_across_instances() {
    // Under the six live codes a phone may have, so the hourly cap is the one that refuses.
    let cap = [("DOCSPACE_AUTH__SEND_CAPS__PER_USER_PER_HOUR", "3")];
    let Some(pair) = Pair::start_with(&[(EMAIL, PHONE)], &cap).await else { return };
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(pair.send_sms(pair.instance(i), EMAIL).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "a, b, a, b, a, b");
    assert_eq!(pair.store.list_messages(None, 100).await.unwrap().len(), 3, "three messages queued");
}

#[tokio::test]
async fn failures_alternating_between_instances_block_the_login() {
    let Some(pair) = Pair::start(&[(EMAIL, PHONE)]).await else { return };
    for i in 0..5 {
        let response = pair.send_sms_as(pair.instance(i), EMAIL, "not it").await;
        assert_eq!(response.status(), 401, "failure {i}");
    }
    // Blocked on both, even with the right password; nothing sent.
    for server in [&pair.a, &pair.b] {
        let response = pair.send_sms_as(server, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), 429);
        // 60 s from the fifth failure, on real clocks: a slow machine may already be a second or two on.
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((55..=60).contains(&retry_after), "Retry-After {retry_after}");
    }
    assert!(pair.store.list_messages(None, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_login_link_raced_across_instances_starts_one_session() {
    let settings = [
        ("DOCSPACE_AUTH__TWO_FACTOR__SMS", "false"),
        // Sixteen attempts at once would be blocked before the key is looked at.
        ("DOCSPACE_AUTH__BRUTE_FORCE__MAX_FAILURES", "1000"),
        ("DOCSPACE_AUTH__BRUTE_FORCE__ACCOUNT_CAPTCHA_AFTER", "1000"),
        ("DOCSPACE_AUTH__BRUTE_FORCE__ACCOUNT_LOCK_AFTER", "0"),
    ];
    let Some(pair) = Pair::start_with(&[(EMAIL, PHONE)], &settings).await else { return };
    // Three links (keys carry their second, so each round waits for a new one): the race shows on
    // every run, not only when the requests happen to overlap.
    let mut previous = String::new();
    for round in 1..=3 {
        let key = wait_until(|| async { Some(pair.login_link_key(EMAIL)).filter(|k| *k != previous) }).await;
        previous = key.expect("a new login link");
        let body = json!({"confirmData": {"email": EMAIL, "key": previous, "first": false}});
        let logins = (0..16).map(|i| {
            let request = pair.http.post(format!("{}/api/2.0/authentication", pair.instance(i).base)).json(&body);
            async move { json_of(request.send().await.unwrap()).await }
        });
        let answers = join_all(logins).await;
        let won: Vec<&Value> = answers.iter().filter(|a| a["response"]["token"].is_string()).collect();
        let used = answers.iter().filter(|a| a["statusCode"] == 404 && a["error"]["type"] == "UserNotFound").count();
        assert_eq!((won.len(), used), (1, 15), "round {round}: {answers:?}");
        let token = won[0]["response"]["token"].as_str().unwrap();
        assert!(pair.is_authenticated(&pair.a, token).await && pair.is_authenticated(&pair.b, token).await);
    }
}
