//! A fault-injecting HTTP server on loopback, for what a real Prometheus cannot do on
//! demand: time out, answer 503 in bursts, send HTML or a truncated body. It counts hits so
//! tests can assert retries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: &str) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// A successful empty vector answer.
pub const EMPTY_VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;

pub struct Mock {
    pub url: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Mock {
    /// Serves `reply(n)` to the n-th request (0-based), forever, on a free port.
    pub fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let flight = in_flight.clone();
        let reply = Arc::new(reply);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let n = h.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                let reqs = reqs.clone();
                let flight = flight.clone();
                std::thread::spawn(move || {
                    // Read the request head and body so the client sees a clean exchange.
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut len = 0usize;
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    head.push_str("\r\n");
                    head.push_str(&String::from_utf8_lossy(&body));
                    reqs.lock().unwrap().push(head);
                    let now = flight.0.fetch_add(1, Ordering::SeqCst) + 1;
                    flight.1.fetch_max(now, Ordering::SeqCst);
                    let r = reply(n);
                    std::thread::sleep(r.delay);
                    flight.0.fetch_sub(1, Ordering::SeqCst);
                    let reason = match r.status {
                        200 => "OK",
                        400 => "Bad Request",
                        401 => "Unauthorized",
                        404 => "Not Found",
                        422 => "Unprocessable Entity",
                        500 => "Internal Server Error",
                        502 => "Bad Gateway",
                        503 => "Service Unavailable",
                        _ => "Status",
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        r.status,
                        r.content_type,
                        r.body.len(),
                        r.body
                    );
                    let _ = stream.flush();
                });
            }
        });
        Mock {
            url,
            hits,
            requests,
            in_flight,
        }
    }

    /// Every request received so far: head, blank line, body.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
