//! The transport: HTTP/1.1 on hyper with a connection pool, TLS only for https:// (built
//! once, on first use), redirects, and bodies read with a size limit.
//!
//! vitals talks to one server per run and needs little of a general HTTP client, but it
//! needs control a general client hides: no TLS set-up for plain http, the reason a
//! handshake failed, and a body that is abandoned once it passes a limit.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Method, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use openssl::ssl::SslContext;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use url::Url;

use super::tls::{self, TlsOptions, TlsProblem};

/// How a request failed below HTTP semantics.
#[derive(Debug)]
pub enum Transport {
    /// No TCP connection (refused, unresolvable host, unroutable).
    Connect(String),
    /// The TLS handshake failed.
    Tls(TlsProblem, String),
    /// The connection broke after it was made (reset, closed early, body cut off).
    Broken(String),
    /// The reply is larger than the limit.
    TooLarge {
        /// The size the server announced (Content-Length), when it did.
        announced: Option<u64>,
    },
    /// Too many redirects, or a redirect that cannot be followed.
    Redirect(String),
    /// Setting up the client failed (bad TLS material found late).
    Setup(String),
}

/// A reply read whole (within the limit).
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct HttpOptions {
    pub headers: HeaderMap,
    pub tls: TlsOptions,
    pub follow_redirects: bool,
    pub max_body: u64,
    pub connect_timeout: Duration,
    pub pool_size: usize,
}

pub struct Http {
    client: Client<Connector, Full<Bytes>>,
    headers: HeaderMap,
    follow_redirects: bool,
    max_body: u64,
}

impl Http {
    pub fn new(o: HttpOptions, eager_tls: bool) -> Result<Self, String> {
        o.tls.validate()?;
        let connector = Connector {
            tls: Arc::new(TlsState {
                opts: o.tls,
                ctx: OnceLock::new(),
            }),
            connect_timeout: o.connect_timeout,
        };
        if eager_tls {
            // An https URL: the context is needed anyway, and a problem with the trust
            // store is better reported once than per connection.
            connector.tls.context().map_err(|e| e.to_string())?;
        }
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(o.pool_size)
            .build(connector);
        Ok(Http {
            client,
            headers: o.headers,
            follow_redirects: o.follow_redirects,
            max_body: o.max_body,
        })
    }

    /// Sends a GET (`form` = None) or a form POST, following redirects as configured.
    pub async fn send(&self, url: Url, form: Option<String>) -> Result<Reply, Transport> {
        let first = origin(&url);
        let mut url = url;
        let mut form = form;
        for _hop in 0..=10 {
            let same_origin = origin(&url) == first;
            let resp = self.once(&url, form.as_deref(), same_origin).await?;
            let status = resp.status().as_u16();
            if !(self.follow_redirects && matches!(status, 301 | 302 | 303 | 307 | 308)) {
                return self.read(resp).await;
            }
            let Some(loc) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string)
            else {
                return self.read(resp).await;
            };
            let mut next = url
                .join(&loc)
                .map_err(|e| Transport::Redirect(format!("a redirect to an invalid URL: {e}")))?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Transport::Redirect(format!(
                    "a redirect to a {} URL",
                    next.scheme()
                )));
            }
            if let Some(f) = form.take() {
                if matches!(status, 307 | 308) {
                    form = Some(f);
                } else {
                    // 301/302/303 turn a POST into a GET; the Prometheus API takes the same
                    // parameters in the query string.
                    let q = match next.query() {
                        Some(q) if !q.is_empty() => format!("{q}&{f}"),
                        _ => f,
                    };
                    next.set_query(Some(&q));
                }
            }
            url = next;
        }
        Err(Transport::Redirect("more than 10 redirects".into()))
    }

    async fn once(
        &self,
        url: &Url,
        form: Option<&str>,
        send_headers: bool,
    ) -> Result<http::Response<hyper::body::Incoming>, Transport> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| Transport::Setup(format!("cannot use the URL: {e}")))?;
        let mut b = http::Request::builder()
            .method(if form.is_some() {
                Method::POST
            } else {
                Method::GET
            })
            .uri(uri);
        let h = b.headers_mut().expect("a fresh builder");
        // Credentials and custom headers go only to the origin the user named, never to
        // another host a redirect points at.
        if send_headers {
            h.extend(self.headers.clone());
        }
        h.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!("vitals/", env!("CARGO_PKG_VERSION"))),
        );
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let body = match form {
            Some(f) => {
                h.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Full::new(Bytes::from(f.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let req = b
            .body(body)
            .map_err(|e| Transport::Setup(format!("cannot build the request: {e}")))?;
        self.client
            .request(req)
            .await
            .map_err(classify_client_error)
    }

    async fn read(&self, resp: http::Response<hyper::body::Incoming>) -> Result<Reply, Transport> {
        let status = resp.status().as_u16();
        let announced = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = announced.filter(|n| *n > self.max_body) {
            return Err(Transport::TooLarge { announced: Some(n) });
        }
        let mut body = resp.into_body();
        let mut buf = Vec::with_capacity(announced.unwrap_or(0).min(1 << 20) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                let why = root_cause(&e);
                Transport::Broken(format!(
                    "the reply was cut off after {} bytes: {why}",
                    buf.len()
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() as u64 + data.len() as u64 > self.max_body {
                    // Dropping the body closes the connection: the rest is never read.
                    return Err(Transport::TooLarge { announced: None });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Reply { status, body: buf })
    }
}

/// `scheme://host:port`, to tell whether a redirect leaves the server the user named.
fn origin(u: &Url) -> (String, Option<String>, Option<u16>) {
    (
        u.scheme().to_string(),
        u.host_str().map(str::to_string),
        u.port_or_known_default(),
    )
}

/// The innermost error message ("connection refused"), which is the useful one.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        msg = next.to_string();
        cur = next;
    }
    msg
}

fn classify_client_error(e: hyper_util::client::legacy::Error) -> Transport {
    // Our connector's own error, wherever it sits in the chain.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<ConnectError>() {
            return match c {
                ConnectError::Tcp(m) => Transport::Connect(m.clone()),
                ConnectError::Tls(p, m) => Transport::Tls(*p, m.clone()),
                ConnectError::Setup(m) => Transport::Setup(m.clone()),
            };
        }
        // An alert after the handshake (a refused client certificate shows on the first
        // read), inside the io::Error hyper reports (whose `source()` skips it).
        let ssl = err.downcast_ref::<openssl::ssl::Error>().or_else(|| {
            err.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        });
        if let Some(s) = ssl {
            let text = ssl_text(s);
            return Transport::Tls(tls::classify_text(&text), text);
        }
        cur = err.source();
    }
    if e.is_connect() {
        return Transport::Connect(root_cause(&e));
    }
    Transport::Broken(root_cause(&e))
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{0}")]
    Tcp(String),
    #[error("{1}")]
    Tls(TlsProblem, String),
    #[error("{0}")]
    Setup(String),
}

struct TlsState {
    opts: TlsOptions,
    ctx: OnceLock<Result<SslContext, String>>,
}

impl TlsState {
    fn context(&self) -> Result<&SslContext, ConnectError> {
        self.ctx
            .get_or_init(|| self.opts.context())
            .as_ref()
            .map_err(|e| ConnectError::Setup(e.clone()))
    }
}

#[derive(Clone)]
struct Connector {
    tls: Arc<TlsState>,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let me = self.clone();
        Box::pin(async move { me.connect(uri).await })
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> Result<Conn, ConnectError> {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::Setup("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| ConnectError::Tcp(format!("cannot resolve {host}: {e}")))?
            .collect();
        let mut last = ConnectError::Tcp(format!("{host} has no address"));
        let mut tcp = None;
        for a in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(a)).await {
                Ok(Ok(s)) => {
                    tcp = Some(s);
                    break;
                }
                Ok(Err(e)) => last = ConnectError::Tcp(io_text(&e)),
                Err(_) => {
                    last = ConnectError::Tcp(format!(
                        "no connection to {a} within {:?}",
                        self.connect_timeout
                    ))
                }
            }
        }
        let Some(tcp) = tcp else { return Err(last) };
        let _ = tcp.set_nodelay(true);
        if !https {
            return Ok(Conn(TokioIo::new(Io::Plain(tcp))));
        }
        let ctx = self.tls.context()?;
        let ssl = self
            .tls
            .opts
            .session(ctx, &host)
            .map_err(ConnectError::Setup)?;
        let mut stream =
            SslStream::new(ssl, tcp).map_err(|e| ConnectError::Setup(format!("TLS: {e}")))?;
        if let Err(e) = Pin::new(&mut stream).connect().await {
            if let Some(io) = e.io_error() {
                return Err(ConnectError::Tcp(format!(
                    "the connection broke during the TLS handshake: {}",
                    io_text(io)
                )));
            }
            let (p, m) = tls::classify(stream.ssl().verify_result(), &ssl_text(&e));
            return Err(ConnectError::Tls(p, m));
        }
        Ok(Conn(TokioIo::new(Io::Tls(Box::new(stream)))))
    }
}

/// OpenSSL's reasons ("sslv3 alert bad certificate"), without codes and source files.
fn ssl_text(e: &openssl::ssl::Error) -> String {
    match e.ssl_error() {
        Some(stack) if !stack.errors().is_empty() => stack
            .errors()
            .iter()
            .map(|x| x.reason().unwrap_or("unknown error").to_string())
            .collect::<Vec<_>>()
            .join("; "),
        _ => match e.io_error() {
            Some(io) => io_text(io),
            None => e.to_string(),
        },
    }
}

/// "Connection refused (os error 111)" -> "connection refused".
fn io_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A pooled connection, plain or TLS.
struct Conn(TokioIo<Io>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
