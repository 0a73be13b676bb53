//! A program on a pseudo-terminal (through util-linux `script`), driven like a person at a
//! keyboard: wait for a prompt, type a line.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A command running on its own terminal.
#[derive(Debug)]
pub struct Terminal {
    child: Child,
    input: ChildStdin,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything the terminal showed so far.
    pub screen: String,
    /// How much of `screen` earlier [`Terminal::expect`] calls consumed.
    seen: usize,
}

impl Terminal {
    /// Runs `program ARGS` on a new terminal.
    pub fn spawn(program: &std::path::Path, args: &[&str]) -> Terminal {
        let mut command_line = shell_quote(&program.display().to_string());
        for arg in args {
            command_line.push(' ');
            command_line.push_str(&shell_quote(arg));
        }
        let mut child = Command::new("script")
            .args([
                "--quiet",
                "--flush",
                "--return",
                "--command",
                &command_line,
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux script runs");
        let input = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (send, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 || send.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            child,
            input,
            output,
            screen: String::new(),
            seen: 0,
        }
    }

    /// Waits until the terminal shows `text` after what earlier calls matched, and consumes
    /// the screen up to it (so a repeated prompt is waited for anew).
    pub fn expect(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = self.screen[self.seen..].find(text) {
                self.seen += at + text.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.screen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!(
                    "the terminal never showed {text:?}; it shows:\n{}",
                    self.screen
                ),
            }
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.input
            .write_all(format!("{line}\r").as_bytes())
            .expect("typed");
        self.input.flush().expect("flushed");
    }

    /// Ctrl-D: the end of input at a prompt.
    pub fn end_of_input(&mut self) {
        self.input.write_all(b"\x04").expect("typed");
        self.input.flush().expect("flushed");
    }

    /// Waits for the program to end; returns its exit code and the whole screen.
    pub fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().expect("the program ends");
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(200)) {
            self.screen.push_str(&String::from_utf8_lossy(&bytes));
        }
        (status.code().unwrap_or(-1), self.screen)
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
