//! The local storage fills up while the exactly-once processor runs: checkpoint and Parquet on
//! a small tmpfs that a filler file takes all the room of. Writes fail with "No space left on
//! device"; the processor reports them (storage retries in `/metrics` and the progress line)
//! and keeps retrying; once the filler is gone it carries on, no committed file is damaged, and
//! its outputs equal an uninterrupted run's.
//! Mounting the tmpfs needs root (or password-less sudo), as on the CI machines.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::eos::{input_topic, metric, run_through_outage, wait_until, Outputs};

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = common::temp_dir(name);
        let options = format!("size={size}");
        let dir_text = dir.to_str().unwrap();
        let status = root_command(&["mount", "-t", "tmpfs", "-o", &options, "tmpfs", dir_text]);
        assert!(
            status,
            "cannot mount a tmpfs on {dir_text}: the test needs root or sudo"
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        root_command(&["umount", "-l", self.0.to_str().unwrap()]);
    }
}

/// Runs `args` as root (directly when the test is root, else through `sudo -n`); success.
fn root_command(args: &[&str]) -> bool {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = match is_root {
        true => Command::new(args[0]),
        false => {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", args[0]]);
            sudo
        }
    };
    command.args(&args[1..]).status().is_ok_and(|s| s.success())
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    while file.write_all(&block[..512]).is_ok() {}
    let _ = file.flush();
}

#[test]
fn a_full_disk_is_reported_and_retried_and_changes_no_output() {
    let tmpfs = Tmpfs::mount("disk-full", "24m");
    let input = input_topic("disk-full");
    let storage = tmpfs.0.join("outputs");
    let tested = Outputs::on(&input, "disk-full", storage.to_str().unwrap());
    let reference = Outputs::new(&input, "reference");
    let filler = tmpfs.0.join("filler");
    let log = run_through_outage(&input, &tested, &reference, 30_000, |port, _| {
        let before = metric(port, "ratings_stream_storage_retries_total");
        fill(&filler);
        wait_until(
            port,
            "ratings_stream_storage_retries_total",
            before + 3.0,
            Duration::from_secs(60),
        );
        std::thread::sleep(Duration::from_secs(3)); // a few more failed attempts
        std::fs::remove_file(&filler).unwrap();
    });
    assert!(
        log.contains("No space left on device"),
        "the cause shows in the log: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("progress:") && l.contains("storage retries")),
        "and in a progress line: {log}"
    );
    // every committed epoch's files are intact
    let inspected = common::binary(&[
        "checkpoint",
        "inspect",
        "--storage",
        storage.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        !text.contains("damaged") && text.contains("committed epochs"),
        "{text}"
    );
}
