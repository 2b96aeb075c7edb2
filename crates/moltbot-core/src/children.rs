//! The child processes the gateway runs (a `command` agent's program, the PDF reader), and how
//! they end with it.
//!
//! [`spawn`] starts a child in a process group of its own, so whatever it starts in turn (the
//! `sleep` of a shell script, a pipeline) is in that group too. The whole group is killed
//! (SIGKILL) when its [`GroupChild`] is dropped before the child was reaped: the agent's
//! timeout, a turn cut at the shutdown deadline, the gateway's runtime dropped at exit. A
//! process that exits at once on a second signal runs no destructor, so it calls [`kill_all`]
//! first: every group whose child has not been reaped yet is killed.
//!
//! Why groups and not `kill_on_drop` alone: tokio kills the child it spawned, not what that
//! child started, and nothing at all when the process exits without dropping it. A group of
//! its own also keeps a terminal's Ctrl-C (sent to the foreground group) away from the
//! children: the gateway, not the terminal, decides when a turn's program stops.
//!
//! A child that exited and was reaped ([`GroupChild::wait`]) leaves its group alone: what it
//! started in the background on purpose outlives it, as before. Only unreaped children are
//! killed, so the group id (the child's pid, held by the unreaped child) cannot belong to
//! another process yet.

use std::collections::BTreeSet;
use std::io;
use std::process::ExitStatus;
use std::sync::{Mutex, PoisonError};

use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};

/// The groups of the children spawned by [`spawn`] and not reaped yet.
static LIVE: Registry = Registry(Mutex::new(BTreeSet::new()));

/// Process group ids of children not reaped yet.
#[derive(Debug)]
struct Registry(Mutex<BTreeSet<u32>>);

impl Registry {
    fn groups(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn kill_all(&self) -> usize {
        let groups = std::mem::take(&mut *self.groups());
        for &group in &groups {
            kill_group(group);
        }
        groups.len()
    }
}

/// A child started by [`spawn`], the leader of its own process group.
#[derive(Debug)]
pub struct GroupChild {
    child: tokio::process::Child,
    /// The group id (the child's pid) while the child is not reaped, kept in `registry`.
    group: Option<u32>,
    registry: &'static Registry,
}

/// Spawns `command` as the leader of a new process group, registered for [`kill_all`]; the
/// group is killed when the returned child is dropped unreaped.
///
/// # Errors
/// The spawn's error (the program is missing, not executable, ...).
pub fn spawn(command: &mut Command) -> io::Result<GroupChild> {
    spawn_in(&LIVE, command)
}

fn spawn_in(registry: &'static Registry, command: &mut Command) -> io::Result<GroupChild> {
    #[cfg(unix)]
    command.process_group(0);
    // Elsewhere (no groups) tokio at least kills the child itself when it is dropped.
    command.kill_on_drop(true);
    let child = command.spawn()?;
    let group = child.id();
    if let Some(id) = group {
        registry.groups().insert(id);
    }
    Ok(GroupChild {
        child,
        group,
        registry,
    })
}

/// Kills (SIGKILL) every group of a child spawned by [`spawn`] that has not been reaped yet;
/// returns how many groups it signalled. For a process about to exit without running
/// destructors (`std::process::exit`).
pub fn kill_all() -> usize {
    LIVE.kill_all()
}

impl GroupChild {
    /// The child's stdin, if it was piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The child's stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr, if it was piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the child to exit and reaps it; its group is left alone from then on.
    ///
    /// # Errors
    /// The wait's error.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        if let Some(group) = self.group.take() {
            self.registry.groups().remove(&group);
        }
        Ok(status)
    }

    /// Kills the child's whole group now (SIGKILL) without waiting; [`Self::wait`] then reaps
    /// the child.
    pub fn kill(&mut self) {
        match self.group {
            Some(group) => kill_group(group),
            None => {
                let _ = self.child.start_kill();
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            self.registry.groups().remove(&group);
            kill_group(group);
        }
    }
}

/// SIGKILL to process group `group`. Group ids 0 and 1 would mean this process's own group and
/// every process: never signalled (a child never has them).
fn kill_group(group: u32) {
    #[cfg(unix)]
    {
        let pid = i32::try_from(group)
            .ok()
            .filter(|&pid| pid > 1)
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // ESRCH: every process of the group is gone already.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::Duration;

    /// Whether process `pid` is gone (no such process, or a zombie nobody reaped yet).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // `pid (comm) S ...`: the state follows the last `)`.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        }
    }

    /// Waits (up to 5 s) until process `pid` is gone.
    async fn until_gone(pid: u32) -> bool {
        for _ in 0..250 {
            if gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Spawns (in `registry`) a shell that starts `sleep 300` in the background, prints that
    /// pid, then runs `then`; returns the child and the sleep's pid.
    async fn shell_with_a_background_sleep(
        registry: &'static Registry,
        then: &str,
    ) -> (GroupChild, u32) {
        use tokio::io::AsyncBufReadExt as _;
        let mut command = Command::new("sh");
        command
            .args(["-c", &format!("sleep 300 & echo $!; {then}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = spawn_in(registry, &mut command).expect("sh starts");
        let mut line = String::new();
        tokio::io::BufReader::new(child.take_stdout().expect("stdout is piped"))
            .read_line(&mut line)
            .await
            .expect("the shell prints the sleep's pid");
        (child, line.trim().parse().expect("a pid"))
    }

    #[tokio::test]
    async fn dropping_an_unreaped_child_kills_what_it_started_too() {
        static REGISTRY: Registry = Registry(Mutex::new(BTreeSet::new()));
        let (child, sleep) = shell_with_a_background_sleep(&REGISTRY, "wait").await;
        let shell = child.child.id().unwrap();
        assert!(!gone(sleep) && !gone(shell));
        drop(child);
        assert!(until_gone(shell).await, "the shell still runs");
        assert!(until_gone(sleep).await, "its background sleep still runs");
        assert!(REGISTRY.groups().is_empty());
    }

    #[tokio::test]
    async fn kill_all_kills_the_groups_of_children_not_reaped() {
        static REGISTRY: Registry = Registry(Mutex::new(BTreeSet::new()));
        let (mut child, sleep) = shell_with_a_background_sleep(&REGISTRY, "wait").await;
        assert_eq!(REGISTRY.kill_all(), 1);
        assert!(until_gone(sleep).await, "the background sleep still runs");
        // The child itself was killed too; its owner reaps it as usual.
        assert!(!child.wait().await.unwrap().success());
    }

    #[tokio::test]
    async fn a_child_that_exited_and_was_reaped_leaves_its_group_alone() {
        static REGISTRY: Registry = Registry(Mutex::new(BTreeSet::new()));
        let (mut child, sleep) = shell_with_a_background_sleep(&REGISTRY, "exit 0").await;
        let group = child.child.id().unwrap();
        assert!(child.wait().await.unwrap().success());
        assert!(REGISTRY.groups().is_empty());
        drop(child);
        assert_eq!(REGISTRY.kill_all(), 0);
        assert!(!gone(sleep), "what it started in the background was killed");
        kill_group(group); // the sleep keeps the group: clean up
        assert!(until_gone(sleep).await);
    }
}
