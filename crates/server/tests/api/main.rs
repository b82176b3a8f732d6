//! Integration tests: the real server on 127.0.0.1:0 with a fresh data directory each, every test
//! on both storage backends (see `backend`).

mod account_limits;
mod backend;
mod binary;
mod brute_force;
mod caps;
mod cli;
mod content;
mod crash;
mod culture;
mod delivery;
mod docs;
mod flow;
mod forwarded;
mod headers;
mod helpers;
mod link_race;
mod login;
mod login_by_id;
mod logs;
mod multi_instance;
mod outage;
mod phone_binding;
mod refusals;
mod retention;
mod schedule;
mod send_sms;
mod store_concurrency;
