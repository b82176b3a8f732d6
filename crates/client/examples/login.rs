//! Log in to docspace-auth (or a DocSpace portal) with password and SMS code, using only the
//! generated client: password → (set a phone if asked) → the code from the SMS → check → log out.
//!
//! `cargo run -p docspace-auth-client --example login -- --email alice@example.com`
//!
//! It asks for the password, the phone (when the account has none yet) and the code on the
//! terminal, one line each.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;
use docspace_auth_client::{Client, ClientInfo, Error, error_envelope, password_hash, types};

#[derive(Parser)]
#[command(about = "Log in with password and SMS code through the generated docspace-auth client")]
struct Args {
    /// Base URL of the server
    #[arg(long, default_value = "http://127.0.0.1:8092")]
    base_url: String,
    /// Email (or user name) to log in as
    #[arg(long)]
    email: String,
    /// Log out again at the end
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    logout: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One line from the terminal, after a prompt.
fn ask(prompt: &str) -> Result<String, String> {
    print!("{prompt}: ");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim().to_owned();
    if line.is_empty() { Err(format!("no {prompt} given")) } else { Ok(line) }
}

/// A readable sentence for a failed call.
fn explain(step: &str, error: Error<types::ErrorApiResponse>) -> String {
    match error_envelope(&error) {
        Some(envelope) => {
            format!("{step}: {} ({}, HTTP {})", envelope.error.message, envelope.error.type_, envelope.status_code)
        }
        None => format!("{step}: {error}"),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let client = Client::new(&args.base_url);
    let settings = client.get_portal_settings().await.map_err(|e| explain("reading portal settings", e))?;
    let hasher = settings.into_inner().response.password_hash;

    let password = ask("Password")?;
    let mut request = types::AuthRequestsDto {
        user_name: Some(args.email.clone()),
        password_hash: Some(password_hash(&password, &hasher)),
        ..Default::default()
    };
    let step =
        client.authenticate_me(Some(&request)).await.map_err(|e| explain("logging in", e))?.into_inner().response;

    let token = match step.token {
        Some(token) => {
            println!("Logged in without a second factor.");
            token
        }
        None => {
            let confirm_url = step.confirm_url.ok_or("the server asked for a second factor but sent no link")?;
            if confirm_url.contains("/confirm/PhoneActivation") {
                println!("This account has no activated phone yet.");
                let phone = ask("Mobile phone (international form, e.g. +44 7400 123456)")?;
                let confirm = confirm_url.split_once('?').map(|(_, q)| q).unwrap_or_default();
                let body = types::MobileRequestsDto { mobile_phone: Some(phone) };
                let set = client
                    .save_mobile_phone(confirm, Some(&body))
                    .await
                    .map_err(|e| explain("setting the phone", e))?;
                println!("Code sent to {}.", set.into_inner().response.phone_noise.unwrap_or_default());
            } else {
                println!("Code sent to {}.", step.phone_noise.unwrap_or_default());
            }
            let code = ask("Code from the SMS")?;
            request.code = Some(code.clone());
            let session = client
                .authenticate_me_from_body_with_code(&code, Some(&request))
                .await
                .map_err(|e| explain("checking the code", e))?
                .into_inner()
                .response;
            session.token.ok_or("the server accepted the code but sent no token")?
        }
    };

    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().map_err(|_| "the token is not a valid header value")?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let http = reqwest::Client::builder().default_headers(headers).build().map_err(|e| e.to_string())?;
    let session = Client::new_with_client(client.baseurl(), http);
    let authenticated =
        session.get_is_authentificated().await.map_err(|e| explain("checking the session", e))?.into_inner().response;
    println!("Authenticated: {authenticated}");

    if args.logout {
        session.logout().await.map_err(|e| explain("logging out", e))?;
        let still = session
            .get_is_authentificated()
            .await
            .map_err(|e| explain("checking the session", e))?
            .into_inner()
            .response;
        println!("Logged out. Authenticated: {still}");
    }
    Ok(())
}
