//! The processes a test starts (processors, generators, chromedriver) end with the test,
//! however it ends: each runs in a process group of its own that is killed when its guard is
//! dropped (the test returned or panicked), and the kernel kills it if the test's thread or the
//! whole test binary dies first (`PR_SET_PDEATHSIG`). `scripts/test.sh` checks after the suite
//! that none is left.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output};

/// A child process of a test: its whole process group is killed (SIGKILL) and the child reaped
/// when this is dropped.
pub struct Spawned {
    child: Option<Child>,
    /// Killed, or seen to exit: its pid (and group id) may belong to another process now.
    ended: bool,
}

/// Makes `command` die with the thread that starts it (the test's), and lead a process group
/// of its own, so that what it starts in turn (chromedriver's Chromium) can be killed with it.
pub fn dies_with_test(command: &mut Command) -> &mut Command {
    command.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Starts `command` as a child of the test (see [`dies_with_test`]).
pub fn spawn(command: &mut Command) -> Spawned {
    let child = dies_with_test(command)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    Spawned {
        child: Some(child),
        ended: false,
    }
}

impl Spawned {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still owned")
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("the child is still owned").id()
    }

    /// Waits for the child to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let status = self.child().wait().expect("waiting for a child");
        self.ended = true;
        status
    }

    /// Whether the child has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child().try_wait().expect("looking at a child");
        self.ended |= status.is_some();
        status
    }

    /// Waits for the child to exit and collects what it wrote to piped outputs.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.child.take().expect("the child is still owned");
        child.wait_with_output().expect("waiting for a child")
    }

    /// Kills the child's process group at once (SIGKILL) and reaps the child, unless it ended
    /// already.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            // the group's id is the child's: it leads its own group
            // SAFETY: kill(2) with a negative id signals that process group only.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}
