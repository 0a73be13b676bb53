//! `login --browser`: the daemon makes the attempt (its secrets stay there); this opens the
//! browser, receives it back on the redirect URI's loopback port (one callback, that path
//! only), or reads the address pasted from the browser's address bar, and hands the callback
//! to the daemon. Also the browser half of `logout` for browser sessions.

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cognitod_client::Client;
use cognitod_proto::{CompleteRedirectRequest, RedirectSignInRequest, Secret, SignInResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use crate::failure::{self, Usage, exit};
use crate::output;

/// How long the browser has to come back.
const WAIT: Duration = Duration::from_secs(5 * 60);
/// How long a browser tab gets to come back after a browser sign-out.
const LOGOUT_WAIT: Duration = Duration::from_secs(30);
/// How long one connection may take to send its request.
const REQUEST_WAIT: Duration = Duration::from_secs(10);
/// The most browser connections served at once.
const MAX_CONNECTIONS: usize = 32;
/// The most of a request the listener reads.
const MAX_REQUEST: usize = 16 * 1024;

/// `cognitoctl login --browser`.
pub async fn login(
    client: &Client,
    provider: Option<String>,
    no_browser: bool,
    json: bool,
) -> anyhow::Result<u8> {
    crate::signin::refuse_if_signed_in(client).await?;
    let attempt = client
        .start_redirect(&RedirectSignInRequest { provider })
        .await?;
    let url = attempt.authorize_url.expose().to_owned();
    let expected_state = query_param(&url, "state");
    let redirect = Loopback::parse(&attempt.redirect_uri).ok_or_else(|| {
        Usage(format!(
            "the daemon's redirect URI {} is not a loopback http:// address",
            attempt.redirect_uri
        ))
    })?;

    let mut listener = None;
    // Kept until the sign-in ends (the browser may read it late); removed then.
    let mut start_file = None;
    let mut paste = no_browser;
    if !no_browser {
        listener = Some(redirect.listen().await?);
        let file = StartFile::create(&url)?;
        let start = file.url();
        start_file = Some(file);
        match open_browser(&start).await {
            Ok(()) => output::say(&format!(
                "Opening the sign-in page in your browser. If it does not open, visit:\n  {start}\nWaiting for the browser to come back (up to 5 minutes)..."
            )),
            Err(why) => {
                output::say(&format!("cognitoctl: {why}"));
                paste = true;
            }
        }
    }
    if paste {
        output::say(&format!(
            "Open this address in a browser and sign in:\n  {url}\nThen paste the address the browser was sent to (it starts with {}):",
            attempt.redirect_uri
        ));
    }
    let pasted = paste.then(read_pasted_line);
    let callbacks = listener.map(serve);
    let answer = wait_for_callback(client, callbacks, pasted, expected_state.as_deref()).await;
    drop(start_file);
    let answer = answer?;
    let mut out = std::io::stdout();
    if json {
        output::json(&mut out, &answer.response)?;
    } else {
        writeln!(out, "signed in as {}", answer.username)?;
    }
    Ok(exit::OK)
}

struct Finished {
    response: SignInResponse,
    username: String,
}

/// Waits for the first callback (from the listener, or pasted), hands it to the daemon and
/// answers the browser tab with the outcome. A callback with another attempt's `state` is
/// refused here and the wait goes on.
async fn wait_for_callback(
    client: &Client,
    mut callbacks: Option<mpsc::Receiver<Callback>>,
    mut pasted: Option<oneshot::Receiver<Option<String>>>,
    expected_state: Option<&str>,
) -> anyhow::Result<Finished> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (url, tab) = tokio::select! {
            Some(callback) = async { callbacks.as_mut()?.recv().await }, if callbacks.is_some() => {
                (callback.url.clone(), Some(callback))
            }
            line = async { pasted.as_mut().expect("guarded").await }, if pasted.is_some() => {
                pasted = None;
                match line.ok().flatten().map(|l| l.trim().to_owned()) {
                    Some(line) if !line.is_empty() => (Secret::new(line), None),
                    _ if callbacks.is_some() => continue,
                    _ => return Err(Usage("no address was pasted\nSign in again with `cognitoctl login --browser`.".into()).into()),
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(failure::no(
                    "BrowserTimeout",
                    "the browser did not come back within 5 minutes",
                    "Run `cognitoctl login --browser` again, or with --no-browser to paste the address.",
                ));
            }
        };
        let state = query_param(url.expose(), "state");
        let foreign = expected_state.is_some_and(|expected| state.as_deref() != Some(expected));
        let tab = match tab {
            Some(tab) if foreign => {
                output::say(
                    "cognitoctl: a browser came back for another sign-in attempt; still waiting for this one",
                );
                tab.answer(
                    400,
                    "This page is not for the sign-in this terminal started.",
                    "Finish the sign-in in the tab that cognitoctl opened.",
                )
                .await;
                continue;
            }
            other => other,
        };
        let result = client
            .complete_redirect(&CompleteRedirectRequest { callback_url: url })
            .await;
        let outcome = match result {
            Ok(response) => client
                .user()
                .await
                .map(|user| Finished {
                    response,
                    username: user.username,
                })
                .map_err(anyhow::Error::from),
            Err(error) => Err(error.into()),
        };
        if let Some(tab) = tab {
            match &outcome {
                Ok(done) => {
                    tab.answer(
                        200,
                        &format!("Signed in as {}.", done.username),
                        "You can close this tab and go back to the terminal.",
                    )
                    .await;
                }
                Err(error) => {
                    tab.answer(
                        400,
                        &format!(
                            "The sign-in failed: {}.",
                            failure::human(error).lines().next().unwrap_or("")
                        ),
                        "Go back to the terminal for what to do next.",
                    )
                    .await;
                }
            }
        }
        return outcome;
    }
}

/// After a browser session's sign-out: opens the managed login's logout URL (its cookie
/// goes too), or prints it. A loopback `logout_uri` is answered with a "signed out" page.
pub async fn logout(logout_url: &str, no_browser: bool) {
    let logout_uri = query_param(logout_url, "logout_uri");
    let back = logout_uri.as_deref().and_then(Loopback::parse);
    if logout_uri.is_none() {
        // Cognito's other /logout ends on its login page: nothing to open for the user.
        output::say(&format!(
            "The browser still has its managed login session (the next browser sign-in reuses it). To end it, open:\n  {logout_url}\nWith [oauth] logout_uri set to a registered sign-out URL, cognitoctl opens it for you."
        ));
        return;
    }
    if no_browser {
        output::say(&format!(
            "To sign the browser out of the managed login too, open:\n  {logout_url}"
        ));
        return;
    }
    // Listening first, so the browser finds the page.
    let listener = match &back {
        Some(back) => back.listen().await.ok(),
        None => None,
    };
    if let Err(why) = open_browser(logout_url).await {
        output::say(&format!(
            "cognitoctl: {why}\nTo sign the browser out of the managed login too, open:\n  {logout_url}"
        ));
        return;
    }
    let Some(listener) = listener else {
        return;
    };
    let mut listener = listener;
    listener.routes.any_query = true;
    let mut callbacks = serve(listener);
    if let Ok(Some(tab)) = tokio::time::timeout(LOGOUT_WAIT, callbacks.recv()).await {
        tab.answer(
            200,
            "Signed out.",
            "You can close this tab and go back to the terminal.",
        )
        .await;
    }
}

/// A page only this user can read that sends the browser on to the authorize URL: what is
/// opened (and shows in the browser's argv, which every local user can read) is this file's
/// name, not the URL with the attempt's `state` and PKCE challenge, so nobody else can start
/// the sign-in and bring their own account back to this terminal. A new 0700 folder in
/// `$XDG_RUNTIME_DIR` (else the temporary folder), removed when dropped.
struct StartFile {
    dir: PathBuf,
    file: PathBuf,
}

impl StartFile {
    fn create(url: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute() && dir.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let mut random = [0u8; 12];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
            .map_err(|e| Usage(format!("no randomness from /dev/urandom: {e}")))?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("cognitoctl-login-{name}"));
        // A new folder (never one that exists: no one else's), only this user's.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Usage(format!("cannot create {}: {e}", dir.display())))?;
        let file = dir.join("sign-in.html");
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
             <meta http-equiv=\"refresh\" content=\"0;url={0}\"><title>cognitoctl</title></head>\
             <body><p><a href=\"{0}\">Continue to the sign-in page</a></p></body></html>",
            escape(url)
        );
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| f.write_all(page.as_bytes()));
        let start = Self { dir, file };
        written.map_err(|e| Usage(format!("cannot write {}: {e}", start.file.display())))?;
        Ok(start)
    }

    /// The file's `file://` URL.
    fn url(&self) -> String {
        let path = self.file.to_string_lossy();
        let encoded: String = path
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("file://{encoded}")
    }
}

impl Drop for StartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A loopback `http://HOST:PORT/PATH` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loopback {
    /// `http://HOST:PORT`, as the URI has it.
    origin: String,
    addresses: Vec<IpAddr>,
    port: u16,
    path: String,
}

impl Loopback {
    fn parse(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("http://")?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let path = if path.is_empty() { "/" } else { path };
        let (host, port) = authority.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
        let addresses = match host {
            "localhost" => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            "127.0.0.1" => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            "[::1]" => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
            _ => return None,
        };
        Some(Self {
            origin: format!("http://{authority}"),
            addresses,
            port,
            path: path.to_owned(),
        })
    }

    /// Binds the loopback addresses (for `localhost` both; the second one only if this
    /// machine has it).
    async fn listen(&self) -> anyhow::Result<Listener> {
        let mut sockets = Vec::new();
        for (i, ip) in self.addresses.iter().enumerate() {
            let address = SocketAddr::new(*ip, self.port);
            match TcpListener::bind(address).await {
                Ok(socket) => sockets.push(socket),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(Usage(format!(
                        "port {port} on {ip} is in use, so the browser cannot come back to this terminal\n\
                         Stop what listens there (ss -ltnp 'sport = :{port}' shows it) and try again, or use --no-browser to paste the address.",
                        port = self.port
                    ))
                    .into());
                }
                Err(_) if i > 0 => {}
                Err(e) => {
                    return Err(Usage(format!("cannot listen on {address}: {e}")).into());
                }
            }
        }
        Ok(Listener {
            sockets,
            routes: Routes {
                origin: self.origin.clone(),
                callback_path: self.path.clone(),
                any_query: false,
            },
        })
    }
}

/// The bound loopback sockets, and what they answer.
struct Listener {
    sockets: Vec<TcpListener>,
    routes: Routes,
}

/// What the listener answers: the callback path.
#[derive(Clone)]
struct Routes {
    origin: String,
    callback_path: String,
    /// Any request to the path counts (the way back from `/logout`), not only one with a
    /// `code` or an `error`.
    any_query: bool,
}

/// A browser request to the callback path, waiting for the page to answer it with.
struct Callback {
    /// The redirect URI's origin, the request's path and query.
    url: Secret,
    page: oneshot::Sender<Page>,
    written: oneshot::Receiver<()>,
}

struct Page {
    status: u16,
    title: String,
    detail: String,
}

impl Page {
    fn new(status: u16, title: &str, detail: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            detail: detail.to_owned(),
        }
    }
}

impl Callback {
    /// Answers the tab, and waits (briefly) until the page is written.
    async fn answer(self, status: u16, title: &str, detail: &str) {
        let _ = self.page.send(Page::new(status, title, detail));
        let _ = tokio::time::timeout(Duration::from_secs(5), self.written).await;
    }
}

/// Accepts browser connections on every socket until the receiver is dropped (at most
/// [`MAX_CONNECTIONS`] at once; an accept error does not end it); requests to the callback
/// path come out of the channel, anything else gets 404.
fn serve(listener: Listener) -> mpsc::Receiver<Callback> {
    let (sender, receiver) = mpsc::channel(4);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    for socket in listener.sockets {
        let sender = sender.clone();
        let routes = listener.routes.clone();
        let slots = Arc::clone(&slots);
        tokio::spawn(async move {
            loop {
                let stream = match socket.accept().await {
                    Ok((stream, _)) => stream,
                    // Out of descriptors, a connection gone before it was taken: go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    break;
                }
                // Over the cap the connection is closed at once.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    continue;
                };
                let (sender, routes) = (sender.clone(), routes.clone());
                tokio::spawn(async move {
                    connection(stream, sender, routes).await;
                    drop(slot);
                });
            }
        });
    }
    receiver
}

async fn connection(mut stream: TcpStream, sender: mpsc::Sender<Callback>, routes: Routes) {
    let Ok(Ok(Some(head))) = tokio::time::timeout(REQUEST_WAIT, read_head(&mut stream)).await
    else {
        return;
    };
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (request_line.next(), request_line.next().unwrap_or_default());
    let target_path = target.split('?').next().unwrap_or_default();
    let is_callback = method == Some("GET")
        && target_path == routes.callback_path
        && (routes.any_query
            || query_param(target, "code").is_some()
            || query_param(target, "error").is_some());
    if !is_callback {
        let page = Page::new(
            404,
            "Not found",
            "This address only receives cognitoctl's sign-in.",
        );
        let _ = write_page(&mut stream, &page).await;
        return;
    }
    let (page, answered) = oneshot::channel();
    let (written, written_rx) = oneshot::channel();
    let callback = Callback {
        url: Secret::new(format!("{}{target}", routes.origin)),
        page,
        written: written_rx,
    };
    if sender.send(callback).await.is_err() {
        return;
    }
    let Ok(page) = answered.await else {
        return;
    };
    let _ = write_page(&mut stream, &page).await;
    let _ = written.send(());
}

/// The request head (up to the blank line), or `None` for a connection that sent none.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            buffer.truncate(end);
            return Ok(String::from_utf8(buffer).ok());
        }
        if buffer.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

async fn write_page(stream: &mut TcpStream, page: &Page) -> std::io::Result<()> {
    let reason = match page.status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cognitoctl</title>\
         <style>body{{font-family:sans-serif;max-width:36em;margin:4em auto}}</style></head>\
         <body><h1 id=\"title\">{}</h1><p id=\"detail\">{}</p></body></html>",
        escape(&page.title),
        escape(&page.detail)
    );
    let response = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        page.status,
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A query parameter of `url`, percent-decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens `url` in the user's browser: `$BROWSER` (a `:`-separated list of commands, `%s` for
/// the URL or else it comes last), else `xdg-open` when there is a display. A command that
/// fails at once counts as not opened.
async fn open_browser(url: &str) -> Result<(), String> {
    let mut commands: Vec<Vec<String>> = std::env::var("BROWSER")
        .ok()
        .map(|list| {
            list.split(':')
                .map(|command| command.split_whitespace().map(str::to_owned).collect())
                .filter(|words: &Vec<String>| !words.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if commands.is_empty() && display {
        commands.push(vec!["xdg-open".to_owned()]);
    }
    if commands.is_empty() {
        return Err("no browser to open here (no $BROWSER and no display, as over SSH)".to_owned());
    }
    for words in commands {
        let mut argv: Vec<String> = words.iter().map(|w| w.replace("%s", url)).collect();
        if !words.iter().any(|w| w.contains("%s")) {
            argv.push(url.to_owned());
        }
        let spawned = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            continue;
        };
        // A launcher that fails says so at once; one still running has opened a browser (and
        // the loopback listener serves meanwhile).
        match tokio::time::timeout(Duration::from_secs(3), child.wait()).await {
            Ok(Ok(status)) if status.success() => return Ok(()),
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Err("the browser could not be opened".to_owned())
}

/// Reads one line from stdin on a thread of its own (it may never come: the process must
/// not wait for it to exit).
fn read_pasted_line() -> oneshot::Receiver<Option<String>> {
    let (sender, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        let _ = sender.send(matches!(read, Ok(n) if n > 0).then_some(line));
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_uris_are_read_strictly() {
        let local = Loopback::parse("http://localhost:8976/callback").unwrap();
        assert_eq!(local.port, 8976);
        assert_eq!(local.path, "/callback");
        assert_eq!(local.addresses.len(), 2);
        let v4 = Loopback::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(v4.path, "/");
        assert_eq!(v4.addresses, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let v6 = Loopback::parse("http://[::1]:9000/cb").unwrap();
        assert_eq!(v6.addresses, [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        for bad in [
            "https://localhost:1/cb",
            "http://example.com:80/cb",
            "http://localhost/cb",
            "http://localhost:0/cb",
            "http://0.0.0.0:80/cb",
        ] {
            assert_eq!(Loopback::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_parameters_are_decoded() {
        let url = "http://localhost:1/cb?code=a%2Fb&state=x+y&error_description=User%20cancelled";
        assert_eq!(query_param(url, "code").as_deref(), Some("a/b"));
        assert_eq!(query_param(url, "state").as_deref(), Some("x y"));
        assert_eq!(
            query_param(url, "error_description").as_deref(),
            Some("User cancelled")
        );
        assert_eq!(query_param(url, "nonce"), None);
        assert_eq!(
            query_param("http://x/?a=%zz%4", "a").as_deref(),
            Some("%zz%4")
        );
    }
}
