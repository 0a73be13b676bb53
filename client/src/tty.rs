//! Reading a secret from the terminal: echo is turned off *before* the prompt is shown, so
//! nothing typed after the prompt can appear on the screen, and restored afterwards.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use cognitod_proto::Secret;
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};

/// Restores the terminal's settings when dropped, whatever happened in between.
struct EchoOff<'a> {
    tty: &'a File,
    original: Termios,
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, OptionalActions::Now, &self.original);
    }
}

/// Shows `prompt` on the controlling terminal and reads one line without echo; `None` at the
/// end of input (Ctrl-D).
pub fn read_secret(prompt: &str) -> io::Result<Option<Secret>> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let original = tcgetattr(&tty)?;
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Now, &quiet)?;
    let guard = EchoOff {
        tty: &tty,
        original,
    };
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line)?;
    drop(guard);
    if read == 0 {
        // Ctrl-D leaves the cursor after the prompt.
        let _ = (&tty).write_all(b"\n");
        return Ok(None);
    }
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    drop(Secret::new(line));
    Ok(Some(secret))
}
