//! docspace-auth: the ONLYOFFICE DocSpace authentication API, centred on Send SMS code.
//!
//! A request's path: [`api`] (route, body, envelope) → [`auth`] (rules) → [`store`] (database)
//! and [`sms`] (delivery).

pub mod api;
pub mod auth;
pub mod captcha;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod confirm;
pub mod crypto;
pub mod error;
pub mod guard;
pub mod login;
pub mod metrics;
pub mod otp;
pub mod password;
pub mod phone;
pub mod session;
pub mod sms;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod users;
