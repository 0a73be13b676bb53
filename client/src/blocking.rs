//! A minimal blocking client for the hot path of `credential_process`: one HTTP/1.1 request on
//! the Unix socket with the standard library only, no async runtime to start.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use cognitod_proto::{API_VERSION, API_VERSION_HEADER, ErrorBody};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::ClientError;

/// The largest answer read (credentials are a few KiB).
const MAX_ANSWER: u64 = 1024 * 1024;

/// `GET path` on the daemon at `socket`, the answer parsed as `T`.
pub fn get<T: DeserializeOwned>(socket: &Path, path: &str) -> Result<T, ClientError> {
    let body = get_body(socket, path)?;
    serde_json::from_slice(&body)
        .map_err(|e| ClientError::Protocol(format!("answer does not parse: {e}")))
}

/// `GET path` on the daemon at `socket`: the body of a 2xx answer as it came (zeroed when
/// dropped: it may hold credentials), any other answer as its error.
pub fn get_body(socket: &Path, path: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
    let expected = crate::trust::check_path(socket)?;
    let mut stream = UnixStream::connect(socket).map_err(|e| crate::connect_error(socket, &e))?;
    crate::trust::check_peer(&stream, socket, expected)?;
    let timeout = Some(Duration::from_secs(30));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| ClientError::Protocol(format!("cannot send the request: {e}")))?;
    let answer = Zeroizing::new(read_answer(&mut stream)?);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol("the answer has no end of headers".into()))?;
    let head = std::str::from_utf8(&answer[..split])
        .map_err(|_| ClientError::Protocol("the answer's headers are not text".into()))?;
    let body = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| ClientError::Protocol("the answer has no status".into()))?;
    let mut version = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case(API_VERSION_HEADER) {
                version = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                chunked = true;
            }
        }
    }
    match version.as_deref() {
        None => {
            return Err(ClientError::Protocol(
                "the answer has no API version; is this a cognitod socket?".into(),
            ));
        }
        Some(v) if v.parse::<u32>() != Ok(API_VERSION) => {
            return Err(ClientError::Version {
                daemon: v.to_owned(),
            });
        }
        Some(_) => {}
    }
    let body = Zeroizing::new(if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    });
    if (200..300).contains(&status) {
        return Ok(body);
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) => Err(ClientError::Api {
            status,
            error: body.error,
        }),
        Err(_) => Err(ClientError::Protocol(format!(
            "HTTP {status} without an error body"
        ))),
    }
}

/// One answer off `stream`: up to the end of its body when the head gives a `Content-Length`
/// (the daemon's close then costs no wait), else up to the end of the stream.
fn read_answer(stream: &mut UnixStream) -> Result<Vec<u8>, ClientError> {
    let failed = |e: std::io::Error| ClientError::Protocol(format!("cannot read the answer: {e}"));
    // Big enough for credentials at once: growing it would leave copies of them behind.
    let mut answer = Vec::with_capacity(16 * 1024);
    let mut buffer = Zeroizing::new([0u8; 4096]);
    let mut expected = None;
    loop {
        let n = match stream.read(&mut buffer[..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(e)),
        };
        if n == 0 {
            return Ok(answer);
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.len() as u64 > MAX_ANSWER {
            return Err(ClientError::Protocol("the answer is too large".into()));
        }
        if expected.is_none() {
            expected = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|end| {
                (end + 4).saturating_add(content_length(&answer[..end]).unwrap_or(usize::MAX))
            });
        }
        if let Some(total) = expected.filter(|&total| answer.len() >= total) {
            answer.truncate(total);
            return Ok(answer);
        }
    }
}

/// The `Content-Length` of a response head, when it has one.
fn content_length(head: &[u8]) -> Option<usize> {
    std::str::from_utf8(head)
        .ok()?
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
}

/// Joins a chunked body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, ClientError> {
    let bad = || ClientError::Protocol("a chunked answer is malformed".into());
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| bad())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad())?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_ends_at_its_content_length_without_waiting_for_the_close() {
        let (mut ours, mut daemon) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        daemon
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n{}")
            .unwrap();
        let reader = std::thread::spawn(move || read_answer(&mut ours).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        daemon.write_all(b"{}").unwrap();
        // The daemon's end stays open: the answer is complete at 4 bytes of body.
        let answer = reader.join().unwrap();
        assert!(answer.ends_with(b"\r\n\r\n{}{}"), "{answer:?}");
        drop(daemon);
        let (mut ours, mut daemon) = UnixStream::pair().unwrap();
        daemon
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
            .unwrap();
        drop(daemon);
        assert!(read_answer(&mut ours).unwrap().ends_with(b"0\r\n\r\n"));
    }

    #[test]
    fn dechunk_joins_chunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"5\r\nabc").is_err());
    }
}
