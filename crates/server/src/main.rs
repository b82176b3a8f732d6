//! The `docspace-auth` command: run the server, administer users.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use docspace_auth_server::clock::SystemClock;
use docspace_auth_server::config::{Overrides, Settings};
use docspace_auth_server::phone::MobilePhone;
use docspace_auth_server::startup::{Application, build_auth_service};
use docspace_auth_server::store::PhoneSource;
use docspace_auth_server::users::NewUser;
use docspace_auth_server::{store, telemetry};

/// ONLYOFFICE DocSpace-compatible authentication server: password login with SMS codes.
///
/// Settings come from built-in defaults, then --config FILE (TOML), then DOCSPACE_AUTH__* environment
/// variables (e.g. DOCSPACE_AUTH__CODES__TTL_SECONDS=300), then these flags.
#[derive(Parser)]
#[command(name = "docspace-auth", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Folder for the SQLite database, the server secret and the development SMS outbox [default: ./data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database: sqlite://FILE or postgres://USER@HOST/DB [default: SQLite in the data directory]. A
    /// password here is visible in the process list; prefer DOCSPACE_AUTH__DATABASE_URL for one.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// TOML settings file (keys as in the README)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (API, Swagger UI at /swagger-ui/, document at /openapi.json)
    Serve {
        /// Address to listen on [default: 127.0.0.1:8092]
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Add, list, change and remove users
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and retry queued SMS messages
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List messages, newest first (texts are never shown: they carry codes)
    List {
        /// Only messages in this state
        #[arg(long, value_parser = ["queued", "sending", "sent", "delivered", "undelivered", "failed"])]
        state: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a failed message again (possible while its code has not expired)
    Retry {
        /// Message id
        id: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user who can log in with email and password
    Add {
        #[arg(long)]
        email: String,
        /// The password (visible to other local users in the process list; prefer --password-stdin)
        #[arg(long, required_unless_present = "password_stdin", conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Mobile phone in international form, e.g. "+44 7400 123456"
        #[arg(long)]
        phone: Option<String>,
        /// Create the user disabled (cannot log in)
        #[arg(long)]
        disabled: bool,
    },
    /// List users
    List,
    /// Set or clear a user's mobile phone
    SetPhone {
        /// Email or id of the user
        #[arg(long)]
        email: String,
        /// Mobile phone in international form
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        phone: Option<String>,
        /// Remove the phone instead
        #[arg(long)]
        clear: bool,
    },
    /// Unlock an account that failed logins locked (brute_force.account_lock_after), forgetting
    /// its failures
    Unlock {
        /// Email or id of the user
        #[arg(long)]
        email: String,
    },
    /// Print a link that logs the user in once within the hour (an `Auth` confirm link)
    LoginLink {
        /// Email of the user
        #[arg(long)]
        email: String,
    },
    /// Remove a user
    Remove {
        /// Email or id of the user
        #[arg(long)]
        email: String,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let bind = match &cli.command {
        Command::Serve { bind } => *bind,
        Command::User(_) | Command::Outbox(_) => None,
    };
    let overrides =
        Overrides { bind, data_dir: cli.common.data_dir.clone(), database_url: cli.common.database_url.clone() };
    let settings = Settings::load(cli.common.config.as_deref(), &overrides)?;
    match cli.command {
        Command::Serve { .. } => serve(settings).await,
        Command::User(command) => user(settings, command).await,
        Command::Outbox(command) => outbox(settings, command).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://{}", app.address());
    println!("docspace-auth listening on {base}");
    println!("  Swagger UI:     {base}/swagger-ui/");
    println!("  OpenAPI:        {base}/openapi.json");
    println!("  data directory: {}", settings.data_dir.display());
    match &settings.database_url {
        None => println!("  database:       {}", settings.data_dir.join("docspace-auth.db").display()),
        Some(_) => println!("  database:       {}", store::redact_url(&settings.database_url())),
    }
    match app.auth().sms_providers().as_slice() {
        [] => println!("  SMS:            no provider configured (sendsms answers 503)"),
        providers => {
            println!("  SMS providers:  {}", providers.join(", "));
            if providers.contains(&"development") {
                println!("  SMS messages:   {} (development provider)", settings.outbox_file().display());
                println!("  warning: the development provider writes codes in plain text; do not use it in production");
            }
        }
    }
    app.run_until_stopped().await.context("server failed")
}

async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let auth = build_auth_service(&settings, Arc::new(SystemClock)).await?;
    match command {
        UserCommand::Add { email, password, password_stdin, phone, disabled } => {
            let password = match password {
                Some(p) => p,
                None if password_stdin => read_password_line()?,
                None => unreachable!("clap requires --password or --password-stdin"),
            };
            let user = auth
                .add_user(NewUser { email: &email, password: &password, phone: phone.as_deref(), disabled })
                .await?;
            println!("added {} (id {})", user.email, user.id);
            match &user.mobile_phone {
                Some(phone) => println!("  phone {phone}"),
                None => println!(
                    "  no phone yet: add one with `docspace-auth user set-phone --email {} --phone ...`",
                    user.email
                ),
            }
        }
        UserCommand::List => {
            let users = auth.store().list_users().await?;
            println!("{:<36}  {:<32}  {:<16}  {:<12}  status", "id", "email", "phone", "phone state");
            for u in &users {
                let status = match (u.disabled, auth.is_locked(u).await?) {
                    (true, _) => "disabled",
                    (false, true) => "locked",
                    (false, false) => "active",
                };
                // An unconfirmed number the user chose can be replaced by them; an admin's binds.
                let phone_state = match (&u.mobile_phone, u.phone_activated, u.phone_source) {
                    (None, ..) => "-",
                    (Some(_), true, _) => "activated",
                    (Some(_), false, Some(PhoneSource::User)) => "unconfirmed",
                    (Some(_), false, _) => "set by admin",
                };
                println!(
                    "{:<36}  {:<32}  {:<16}  {:<12}  {status}",
                    u.id,
                    u.email,
                    u.mobile_phone.as_deref().unwrap_or("-"),
                    phone_state,
                );
            }
            println!("{} user(s)", users.len());
        }
        UserCommand::SetPhone { email, phone, clear } => {
            let phone = if clear { None } else { phone };
            match auth.set_user_phone(&email, phone.as_deref()).await? {
                Some(phone) => println!(
                    "{email}: phone set to {phone}; the next login sends the code there (activated once a code is verified)"
                ),
                None => println!("{email}: phone removed"),
            }
        }
        UserCommand::Unlock { email } => {
            let (user, failures) = auth.unlock_user(&email).await?;
            println!("{}: unlocked ({failures} consecutive failed attempts forgotten)", user.email);
        }
        UserCommand::LoginLink { email } => {
            let user = auth.store().find_user_by_login(&email).await?;
            let user = user.with_context(|| format!("no user {email:?}"))?;
            println!("{}", auth.login_link(&user));
        }
        UserCommand::Remove { email } => {
            let user = auth.remove_user(&email).await?;
            println!("removed {} (id {})", user.email, user.id);
        }
    }
    Ok(())
}

async fn outbox(settings: Settings, command: OutboxCommand) -> anyhow::Result<()> {
    let auth = build_auth_service(&settings, Arc::new(SystemClock)).await?;
    match command {
        OutboxCommand::List { state, limit } => {
            let messages = auth.store().list_messages(state.as_deref(), limit).await?;
            println!(
                "{:<36}  {:<16}  {:<11}  {:>8}  {:<11}  {:<24}  last error",
                "id", "to", "state", "attempts", "provider", "created"
            );
            for m in &messages {
                println!(
                    "{:<36}  {:<16}  {:<11}  {:>8}  {:<11}  {:<24}  {}",
                    m.id,
                    MobilePhone::from_stored(m.phone.clone()).noise(),
                    m.state,
                    m.attempts,
                    m.provider.as_deref().unwrap_or("-"),
                    m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    m.last_error.as_deref().unwrap_or("-")
                );
            }
            println!("{} message(s)", messages.len());
        }
        OutboxCommand::Retry { id } => {
            anyhow::ensure!(
                auth.store().retry_message(&id, auth.now()).await?,
                "message {id} is not a failed message whose code is still valid"
            );
            println!("message {id} queued again; a running server delivers it");
        }
    }
    Ok(())
}

fn read_password_line() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_line(&mut input).context("reading the password from standard input")?;
    let password = input.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "standard input held no password");
    Ok(password)
}
