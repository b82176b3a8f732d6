//! The real `docspace-auth` binary, run as operators run it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::backend::PgDatabase;

/// `docspace-auth` on `data_dir` and, given one, a PostgreSQL database, with cheap PBKDF2; add the
/// subcommand and its arguments.
pub fn docspace_auth(data_dir: &Path, database: Option<&PgDatabase>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docspace-auth"));
    command.arg("--data-dir").arg(data_dir).env("DOCSPACE_AUTH__PASSWORD_HASH__ITERATIONS", "1000");
    if let Some(database) = database {
        command.arg("--database-url").arg(&database.url);
    }
    command
}

/// A running `docspace-auth serve`, killed when dropped, so a failing test leaves no process behind.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Runs `serve` on an ephemeral port with `command`'s settings, once it listens.
    pub fn start(command: Command) -> Self {
        Self::start_logging_to(command, Stdio::null())
    }

    /// `start`, with the server's log (its stderr) going to `log`.
    pub fn start_logging_to(mut command: Command, log: impl Into<Stdio>) -> Self {
        let mut child =
            command.args(["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the server printed its address").unwrap();
        let base = first.strip_prefix("docspace-auth listening on ").expect("start-up line").to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM, as a service manager stops it; waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM");
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
