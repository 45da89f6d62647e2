//! The real binary in a real terminal: `spantop demo` inside tmux (its own server socket, so
//! no user session is touched), keys sent as a person would, the screen captured and checked,
//! then `q`, and the terminal must be back to normal (alternate screen off, shell prompt
//! usable). Needs `tmux` on PATH (Debian: `apt-get install tmux`).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    /// The server's configuration, read when it starts: `remain-on-exit` must be set globally
    /// before the pane starts, or tmux 3.3a (Debian's) leaves `#{pane_dead_status}` empty.
    config: PathBuf,
}

impl Tmux {
    fn new(socket: String, dir: &tempfile::TempDir) -> Tmux {
        let config = dir.path().join("tmux.conf");
        std::fs::write(&config, "set-option -g remain-on-exit on\n").expect("write tmux.conf");
        Tmux { socket, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("tmux runs (install it: apt-get install tmux)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }

    fn alternate_screen(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", "demo", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    fn pane(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "demo", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "demo", keys]);
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Only the server on our own socket.
        let _ = self.run(&["kill-server"]);
    }
}

/// A private copy of the binary: the shared target directory may be rebuilt while tests run.
fn private_binary(dir: &tempfile::TempDir) -> PathBuf {
    let bin = dir.path().join("spantop");
    std::fs::copy(env!("CARGO_BIN_EXE_spantop"), &bin).expect("copy the binary");
    bin
}

#[test]
fn sigterm_restores_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = private_binary(&dir);
    let tmux = Tmux::new(format!("spantop-test-term-{}", std::process::id()), &dir);
    // A shell wrapper owns the pane and writes spantop's exit status to a file: tmux 3.3a
    // (Debian's) can leave a dead pane's process unreaped, and `#{pane_dead_status}` empty.
    let status_file = dir.path().join("status");
    let cmd = format!(
        "{} demo; echo $? > {}",
        bin.display(),
        status_file.display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "90",
        "-y",
        "25",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for("the TUI", Duration::from_secs(20), |s| s.contains("LIVE"));
    assert!(tmux.alternate_screen());
    let shell = tmux.pane("#{pane_pid}");
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the wrapper shell's children");
    let pid = children
        .split_whitespace()
        .next()
        .expect("spantop runs under the wrapper shell")
        .to_owned();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        match std::fs::read_to_string(&status_file) {
            Ok(s) if s.ends_with('\n') => break s.trim().to_owned(),
            _ => {}
        }
        assert!(Instant::now() < deadline, "spantop did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    // A shell reports death by signal N as 128 + N.
    assert_eq!(status, "0", "exit status after SIGTERM");
    assert!(
        !tmux.alternate_screen(),
        "alternate screen left on after SIGTERM"
    );
    assert!(!tmux.screen().contains("1 Services"), "TUI left on screen");
}

#[test]
fn demo_runs_in_a_real_terminal_and_restores_it_on_quit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = private_binary(&dir);
    let tmux = Tmux::new(format!("spantop-test-{}", std::process::id()), &dir);
    let cmd = format!("{} demo --rate 40; echo SPANTOP_EXITED=$?", bin.display());
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = tmux.wait_for("the services table", Duration::from_secs(60), |s| {
        s.contains("LIVE") && s.contains("checkout-fn") && s.contains("api-gateway")
    });
    assert!(
        tmux.alternate_screen(),
        "the TUI runs on the alternate screen"
    );
    assert!(s.contains("1 Services") && s.contains("7 Map"), "{s}");

    tmux.keys("4");
    let s = tmux.wait_for("a cold start", Duration::from_secs(60), |s| {
        s.contains("Cold starts by function") && s.contains("reco-model-fn")
    });
    assert!(s.contains("Init p50"), "{s}");

    tmux.keys("Enter");
    let s = tmux.wait_for("the waterfall", Duration::from_secs(5), |s| {
        s.contains("Waterfall")
    });
    assert!(s.contains("[cold]") && s.contains("Initialization"), "{s}");

    tmux.keys("?");
    tmux.wait_for("the help", Duration::from_secs(5), |s| {
        s.contains("follow a link")
    });
    tmux.keys("Escape");
    tmux.keys("Space");
    tmux.wait_for("the pause badge", Duration::from_secs(5), |s| {
        s.contains("PAUSED")
    });

    tmux.keys("q");
    let s = tmux.wait_for("spantop to exit", Duration::from_secs(15), |s| {
        s.contains("SPANTOP_EXITED=")
    });
    assert!(s.contains("SPANTOP_EXITED=0"), "{s}");
    assert!(
        !tmux.alternate_screen(),
        "alternate screen left on after quit"
    );
    assert!(
        !s.contains("Waterfall") && !s.contains("PAUSED"),
        "TUI left on screen:\n{s}"
    );
}
