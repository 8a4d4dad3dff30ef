//! A real terminal screen for the tests: fanout runs in a tmux pane (its own pseudo-terminal,
//! a private tmux server), and the test reads what the pane shows, types on it (`C-c` is a real
//! SIGINT from the terminal's line discipline) and resizes it (TIOCSWINSZ on the pty and
//! SIGWINCH). tmux rewraps lines on a resize, as most terminals people use do, so debris left
//! by a resize is seen as a user sees it.

use std::process::Command;

use super::{BOUND, clean_env, fanout_path, wait_until};

/// A tmux pane running one shell command; the server goes when this is dropped.
pub struct Screen {
    /// The server's socket and configuration.
    dir: tempfile::TempDir,
}

impl Screen {
    /// Runs the shell command `cmd` in `cwd`, `FANOUT` standing for the binary, in a pane of
    /// `width` x `height`, with `NO_COLOR=1`. The pane stays after the command ends.
    pub fn start(cwd: &std::path::Path, cmd: &str, width: u16, height: u16) -> Screen {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tmux.conf"),
            "set -g remain-on-exit on\nset -g status off\nset -g history-limit 10000\n",
        )
        .unwrap();
        let screen = Screen { dir };
        let inner = cmd.replace("FANOUT", &fanout_path().display().to_string());
        // The shell records the status: tmux does not always have it when the pane dies.
        let inner = format!(
            "cd '{}' && NO_COLOR=1 {inner}; echo $? > '{}'",
            cwd.display(),
            screen.status_file().display()
        );
        let out = screen
            .tmux()
            .args(["-f", &screen.conf(), "new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string(), &inner])
            .output()
            .expect("tmux is installed");
        assert!(out.status.success(), "tmux: {out:?}");
        screen
    }

    fn conf(&self) -> String {
        self.dir.path().join("tmux.conf").display().to_string()
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        clean_env(&mut c)
            .env_remove("TMUX")
            .args(["-S", &self.dir.path().join("sock").display().to_string()]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("tmux runs");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every row the pane has shown, scrolled-off history included, trailing blanks trimmed,
    /// without tmux's own "Pane is dead" line.
    pub fn rows(&self) -> Vec<String> {
        let text = self.run(&["capture-pane", "-p", "-t", "t", "-S", "-"]);
        let mut rows: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with("Pane is dead"))
            .map(|l| l.trim_end().to_string())
            .collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    /// The rows that are not blank.
    pub fn text_rows(&self) -> Vec<String> {
        self.rows().into_iter().filter(|r| !r.is_empty()).collect()
    }

    /// Waits until the rows satisfy `cond` (bounded); panics with the screen if they never do.
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&[String]) -> bool) -> Vec<String> {
        let mut last = Vec::new();
        let ok = wait_until(BOUND, || {
            last = self.rows();
            cond(&last)
        });
        assert!(ok, "the screen never showed {what}:\n{}", last.join("\n"));
        last
    }

    /// Waits until some row contains `needle`.
    pub fn wait_for_text(&self, needle: &str) -> Vec<String> {
        self.wait_for(needle, |rows| rows.iter().any(|r| r.contains(needle)))
    }

    /// Types `keys` (tmux key names: `C-c`, `Enter`, or text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Resizes the window: the pane's pty gets the new size and its process SIGWINCH.
    pub fn resize(&self, width: u16, height: u16) {
        self.run(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    fn status_file(&self) -> std::path::PathBuf {
        self.dir.path().join("status")
    }

    /// Waits until the command has ended (bounded) and returns its exit status (128 + N for
    /// signal N, as the shell says).
    pub fn wait_exit(&self) -> i32 {
        let mut status = None;
        let ok = wait_until(BOUND, || {
            status = std::fs::read_to_string(self.status_file())
                .ok()
                .and_then(|s| s.trim().parse().ok());
            status.is_some()
        });
        assert!(
            ok,
            "the command did not end within {BOUND:?}:\n{}",
            self.rows().join("\n")
        );
        status.unwrap()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}
