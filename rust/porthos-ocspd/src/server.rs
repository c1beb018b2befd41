//! The HTTP side: hyper 1.x connections on tokio (HTTP/1.1 and h2c from one port),
//! the accept loop with its connection cap, the snapshot reloader and graceful
//! shutdown. Why hyper: docs/ocsp-responder.md.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, EXPIRES, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{Notify, Semaphore};

use crate::service::{self, Decision, SignJob, INTERNAL_ERROR, MALFORMED_REQUEST, TRY_LATER};
use crate::store::{self, Snapshot};

/// Signs one response on demand (nonce echo, unknown serial, hash not pre-signed).
/// Called on tokio's blocking pool, never on an async worker.
pub trait OnDemandSigner: Send + Sync + 'static {
    fn sign(&self, job: &SignJob) -> Result<Vec<u8>, String>;
}

/// How the responder runs; `Default` gives the values `porthos ocsp serve` uses.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The workspace: responses are read from `workdir/ocsp/<CA>/`.
    pub workdir: PathBuf,
    pub listen: SocketAddr,
    /// Largest POST body (an OCSP request with one CertID is ~80-120 octets; a signed
    /// one with a certificate a few KiB). Checked from Content-Length, then while reading.
    pub max_body: usize,
    /// Async worker threads; 0 = one per core.
    pub threads: usize,
    /// Open connections at most; past it accept waits (the kernel backlog queues).
    pub max_connections: usize,
    /// On-demand signings in flight at most; further ones wait for a slot.
    pub max_on_demand: usize,
    /// How often the index files are checked for replacement (≤ 1 s).
    pub reload_interval: Duration,
    /// How long shutdown waits for open requests before closing.
    pub shutdown_grace: Duration,
    /// A client that sends no complete request head in this time is dropped (slowloris).
    pub header_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            workdir: PathBuf::from("."),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body: 16 * 1024,
            threads: 0,
            max_connections: 20_000,
            max_on_demand: 8,
            reload_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
        }
    }
}

struct State {
    snap: RwLock<Arc<Snapshot>>,
    signer: Option<Arc<dyn OnDemandSigner>>,
    signing: Semaphore,
    max_body: usize,
}

impl State {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type Reply = Response<Full<Bytes>>;

fn ocsp_reply(body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    r
}

/// A status-only or on-demand answer: not for shared caches.
fn uncached(body: Bytes) -> Reply {
    let mut r = ocsp_reply(body);
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn http_error(code: StatusCode) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(
        code.canonical_reason().unwrap_or(""),
    )));
    *r.status_mut() = code;
    if code == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, POST"));
    }
    r
}

/// Now in Unix seconds, rounded up: max-age = nextUpdate - now then never reaches
/// past nextUpdate (RFC 5019 §6.2).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0))
        .unwrap_or(0)
}

/// The request DER from a POST body, or the HTTP error to answer instead.
async fn read_post(st: &State, req: Request<Incoming>) -> Result<Bytes, StatusCode> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.trim().eq_ignore_ascii_case("application/ocsp-request") {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    // Refused before a byte of the body is read when the client announces the size.
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    if let Some(n) = announced.and_then(|v| v.parse::<u64>().ok()) {
        if n > st.max_body as u64 {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
    // Chunked or lying clients: the limit holds while streaming.
    let limited = Limited::new(req.into_body(), st.max_body);
    match tokio::time::timeout(Duration::from_secs(10), limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        }
        Ok(Err(_)) => Err(StatusCode::BAD_REQUEST),
        Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
    }
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let is_get = req.method() == Method::GET;
    let if_none_match = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let der: Bytes = match *req.method() {
        Method::GET => {
            let path = req.uri().path();
            // base64 of a max_body request, percent-encoded at worst 3 octets per char.
            if path.len() > st.max_body * 4 + 16 {
                return Ok(http_error(StatusCode::URI_TOO_LONG));
            }
            match service::decode_get_path(path) {
                Some(d) => Bytes::from(d),
                None => return Ok(uncached(Bytes::from_static(MALFORMED_REQUEST))),
            }
        }
        Method::POST => match read_post(&st, req).await {
            Ok(b) => b,
            Err(code) => return Ok(http_error(code)),
        },
        _ => return Ok(http_error(StatusCode::METHOD_NOT_ALLOWED)),
    };
    let snap = st.snapshot();
    Ok(match service::decide(&snap, &der) {
        Decision::Status(s) => uncached(Bytes::from_static(s)),
        Decision::Presigned(e) => {
            let etag = e.etag.to_str().unwrap_or("");
            let mut r = if is_get && if_none_match.is_some_and(|h| service::none_match(&h, etag)) {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                r
            } else {
                ocsp_reply(e.der.clone())
            };
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&service::cache_control(&e, now())) {
                h.insert(CACHE_CONTROL, v);
            }
            h.insert(ETAG, e.etag.clone());
            h.insert(LAST_MODIFIED, e.last_modified.clone());
            h.insert(EXPIRES, e.expires.clone());
            r
        }
        Decision::OnDemand(job, _why) => uncached(sign_on_demand(&st, job).await),
    })
}

async fn sign_on_demand(st: &Arc<State>, job: SignJob) -> Bytes {
    let Some(signer) = st.signer.clone() else {
        return Bytes::from_static(TRY_LATER);
    };
    let Ok(_slot) = st.signing.acquire().await else {
        return Bytes::from_static(TRY_LATER);
    };
    match tokio::task::spawn_blocking(move || signer.sign(&job)).await {
        Ok(Ok(der)) => Bytes::from(der),
        Ok(Err(e)) => {
            eprintln!("porthos-ocspd: on-demand signing failed: {e}");
            Bytes::from_static(INTERNAL_ERROR)
        }
        Err(e) => {
            eprintln!("porthos-ocspd: on-demand signer panicked: {e}");
            Bytes::from_static(INTERNAL_ERROR)
        }
    }
}

/// Poll the index files and swap in a new snapshot when one was replaced. `seen` is
/// the fingerprint taken *before* the current snapshot was loaded, so a change made
/// while it loaded is seen at the next poll.
async fn reload_loop(st: Arc<State>, dir: PathBuf, every: Duration, mut seen: store::Fingerprint) {
    loop {
        tokio::time::sleep(every).await;
        let fp_dir = dir.clone();
        let Ok(fp) = tokio::task::spawn_blocking(move || store::fingerprint(&fp_dir)).await else {
            continue;
        };
        if fp == seen {
            continue;
        }
        seen = fp;
        let prev = st.snapshot();
        let load_dir = dir.clone();
        match tokio::task::spawn_blocking(move || store::load(&load_dir, Some(&prev))).await {
            Ok(Ok((snap, errors))) => {
                for e in errors {
                    eprintln!("porthos-ocspd: reload kept the previous state: {e}");
                }
                *st.snap.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
            }
            Ok(Err(e)) => {
                eprintln!("porthos-ocspd: reload failed, still serving the last index: {e}")
            }
            Err(e) => eprintln!("porthos-ocspd: reload task failed: {e}"),
        }
    }
}

type Signals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

/// The SIGINT and SIGTERM streams, registered before `ready` announces the address:
/// a signal that arrives between the two must not be missed (the CLI ignores both
/// while Rust serves).
fn register_signals() -> Result<Signals, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    let term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    Ok((int, term))
}

/// SIGINT or SIGTERM (when registered), or `stop` notified.
async fn shutdown_signal(stop: Option<Arc<Notify>>, signals: Option<Signals>) {
    let wait_stop = async {
        match stop {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    let Some((mut int, mut term)) = signals else {
        return wait_stop.await;
    };
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
        _ = wait_stop => {},
    }
}

/// Run the responder until SIGINT/SIGTERM (when `handle_signals`) or `stop`:
/// load the snapshot (an unreadable CA folder is an error here), bind, call
/// `ready(bound address)`, serve; on shutdown stop accepting, let open requests
/// finish for up to `shutdown_grace`, return.
pub fn serve(
    cfg: ServeConfig,
    signer: Option<Arc<dyn OnDemandSigner>>,
    stop: Option<Arc<Notify>>,
    handle_signals: bool,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    let ocsp_dir = cfg.workdir.join("ocsp");
    let seen = store::fingerprint(&ocsp_dir);
    let (snap, _) = store::load(&ocsp_dir, None)?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if cfg.threads > 0 {
        rt.worker_threads(cfg.threads);
    }
    let rt = rt
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        let socket = if cfg.listen.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| format!("socket: {e}"))?;
        socket
            .set_reuseaddr(true)
            .map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(cfg.listen)
            .map_err(|e| format!("bind {}: {e}", cfg.listen))?;
        // A deep backlog: 1,000 clients connecting at once must not see SYN drops.
        let listener = socket.listen(4096).map_err(|e| format!("listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let st = Arc::new(State {
            snap: RwLock::new(Arc::new(snap)),
            signer,
            signing: Semaphore::new(cfg.max_on_demand.max(1)),
            max_body: cfg.max_body,
        });
        let reloader = tokio::spawn(reload_loop(st.clone(), ocsp_dir, cfg.reload_interval, seen));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(cfg.header_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256);
        let graceful = GracefulShutdown::new();
        let conns = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
        let signals = if handle_signals {
            Some(register_signals()?)
        } else {
            None
        };
        ready(addr);
        let shutdown = shutdown_signal(stop, signals);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = conns.clone().acquire_owned() => p.map_err(|e| e.to_string())?,
                _ = &mut shutdown => break,
            };
            let stream = tokio::select! {
                a = listener.accept() => match a {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        eprintln!("porthos-ocspd: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let st = st.clone();
            let svc = service_fn(move |req| handle(st.clone(), req));
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .into_owned();
            let watched = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = watched.await;
                drop(permit);
            });
        }
        drop(listener);
        reloader.abort();
        tokio::select! {
            _ = graceful.shutdown() => {},
            _ = tokio::time::sleep(cfg.shutdown_grace) => {
                eprintln!("porthos-ocspd: shutdown grace elapsed, closing open connections");
            },
        }
        Ok::<(), String>(())
    })?;
    // Blocking on-demand signers may still run; do not wait for them forever.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
