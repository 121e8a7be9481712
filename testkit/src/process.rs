//! The `medrelay` binary as a child process: started with only the settings the test gives it,
//! its output read line by line, waited on until it answers, and killed when the test is done
//! with it (also when the test panics). Its log is in the panic message when it misbehaves.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::wait;

/// Long enough that only a hung or broken child reaches it, on a loaded machine too.
pub const HUNG: Duration = Duration::from_secs(120);

/// A port nothing listens on now, for a child to listen on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `run` (the binary, or a wrapper such as `prlimit --nofile=256:256 <binary>`), logging at
/// `warn` without colour. None of this process's `MEDRELAY_*` variables pass to the child: the
/// test's own settings (e.g. `MEDRELAY_TEST_POSTGRES_URL`) are not the child's configuration.
pub fn command(run: &[&str]) -> Command {
    let (program, args) = run.split_first().expect("a program to run");
    let mut command = Command::new(program);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MEDRELAY_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn").env("NO_COLOR", "1");
    command
}

/// A running child, killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    /// Names the child in messages, e.g. `run 2 of medrelay`.
    name: String,
    lines: mpsc::Receiver<String>,
    /// Where its standard error goes; without one, its lines come with standard output's.
    log: Option<PathBuf>,
}

impl Process {
    /// Starts `command`. Standard output is read line by line as it comes; standard error is
    /// written to `log`, or without one read into the same lines.
    pub fn spawn(mut command: Command, name: &str, log: Option<PathBuf>) -> Self {
        let stderr = match &log {
            Some(path) => Stdio::from(File::create(path).expect("create the child's log file")),
            None => Stdio::piped(),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout = child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>);
        for output in [stdout, stderr].into_iter().flatten() {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child: Some(child),
            name: name.to_owned(),
            lines,
            log,
        }
    }

    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Output lines until one satisfies `last` (included), or all of them once the child goes
    /// quiet for `quiet` or ends.
    pub fn lines_until(&self, last: impl Fn(&str) -> bool, quiet: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            let done = last(&line);
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    }

    /// Waits for a line starting with `prefix` and returns the rest of it; fails with the
    /// lines seen and the log.
    pub fn line_after(&self, prefix: &str) -> String {
        let seen = self.lines_until(|line| line.trim().starts_with(prefix), HUNG);
        match seen.last().and_then(|l| l.trim().strip_prefix(prefix)) {
            Some(rest) => rest.to_owned(),
            None => panic!(
                "{} printed no `{prefix}` line; it printed:\n{}\nlog:\n{}",
                self.name,
                seen.join("\n"),
                self.log_text()
            ),
        }
    }

    /// The admin key a first run prints for clinic `demo`.
    pub fn admin_key(&self) -> String {
        self.line_after("export MEDRELAY_KEY=")
    }

    /// Waits until `GET {base}/ready` answers 200; fails with the log if the child exits first.
    pub async fn wait_until_ready(&mut self, client: &reqwest::Client, base: &str) {
        let ready = format!("{base}/ready");
        wait::within(HUNG)
            .every(Duration::from_millis(50))
            .until(async || {
                if let Some(status) = self.exit_status() {
                    panic!(
                        "{} exited with {status} before it was ready:\n{}",
                        self.name,
                        self.log_text()
                    );
                }
                let answer = client
                    .get(&ready)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    other => Err(format!(
                        "{} is not ready ({other:?}):\n{}",
                        self.name,
                        self.log_text()
                    )),
                }
            })
            .await;
    }

    /// Its exit status, if it has exited.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL, like a power cut or the OOM killer: no shutdown code runs. Returns how it ended
    /// (it may have ended on its own before).
    pub fn kill_9(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        Some(child.wait().expect("reap the killed child"))
    }

    /// SIGTERM, what systemd, Docker and Kubernetes send to stop a service.
    pub fn sigterm(&self) {
        let id = self.id().expect("a running child");
        let status = Command::new("kill")
            .args(["-TERM", &id.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {id} failed");
    }

    /// Waits for the child to exit; fails (and kills it) if it has not within `within`.
    pub async fn exit(mut self, within: Duration) -> ExitStatus {
        let name = self.name.clone();
        let status = wait::within(within)
            .every(Duration::from_millis(20))
            .until(async || {
                self.exit_status()
                    .ok_or_else(|| format!("{name} still runs"))
            })
            .await;
        self.child = None;
        status
    }

    /// Its standard error so far (empty when that is read as lines).
    pub fn log_text(&self) -> String {
        self.log.as_ref().map_or_else(String::new, |log| {
            std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log: {e})"))
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
