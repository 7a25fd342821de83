//! A fault-injecting HTTP proxy on loopback in front of a real Prometheus: each request is
//! forwarded, or answered with a fault chosen from a seed (connection reset, 503, a slow
//! reply, a body cut short, an HTML page), so that long runs meet faults a real server
//! produces only by accident. One request per connection (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The connection is reset (RST) before any reply.
    Reset,
    /// `503 Service Unavailable` from "the proxy".
    Unavailable,
    /// The real reply, after a delay.
    Slow,
    /// The real reply's head and half its body, then the connection closes.
    Truncated,
    /// An HTML page with status 200 (a login page, a captive portal).
    WrongType,
    /// An engine without the `@` modifier: a query that uses it is refused as Prometheus
    /// before 2.33 refuses it (400, `bad_data`); the others are forwarded. Never drawn at
    /// random: a plan of this fault alone at rate 1.
    NoAtModifier,
}

pub const ALL: [Fault; 5] = [
    Fault::Reset,
    Fault::Unavailable,
    Fault::Slow,
    Fault::Truncated,
    Fault::WrongType,
];

/// What the proxy does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    /// Share of requests that meet a fault, 0..=1.
    pub rate: f64,
    /// Which faults to draw from (evenly).
    pub faults: Vec<Fault>,
    /// How long a slow reply waits.
    pub slow: Duration,
}

pub struct Proxy {
    pub url: String,
    hits: Arc<AtomicUsize>,
    injected: Arc<Mutex<Vec<Fault>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

/// SplitMix64: a well-mixed hash of (seed, request number), so a seed fixes which requests
/// fail however the client orders them.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Plan {
    fn pick(&self, n: usize) -> Option<Fault> {
        let h = mix(self.seed ^ mix(n as u64));
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        if self.faults.is_empty() || u >= self.rate {
            return None;
        }
        let i = (mix(h) % self.faults.len() as u64) as usize;
        Some(self.faults[i])
    }
}

impl Proxy {
    pub fn start(upstream: u16, plan: Plan) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let injected = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, inj, st) = (hits.clone(), injected.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let n = h.fetch_add(1, Ordering::SeqCst);
                let fault = plan.pick(n);
                if let Some(f) = fault {
                    inj.lock().unwrap().push(f);
                }
                let slow = plan.slow;
                std::thread::spawn(move || serve(stream, upstream, fault, slow));
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            hits,
            injected,
            stop,
            port,
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The faults injected so far.
    pub fn injected(&self) -> Vec<Fault> {
        self.injected.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request: the head (without its Connection header) and the body.
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn forward(head: &str, body: &[u8], upstream: u16) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.set_read_timeout(Some(Duration::from_secs(300))).ok()?;
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(b"Connection: close\r\n\r\n").ok()?;
    up.write_all(body).ok()?;
    let mut reply = Vec::new();
    up.read_to_end(&mut reply).ok()?;
    Some(reply)
}

/// Closes with RST instead of FIN.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

fn serve(mut stream: TcpStream, upstream: u16, fault: Option<Fault>, slow: Duration) {
    let Some((head, body)) = read_request(&stream) else {
        return;
    };
    let canned = |status: &str, ctype: &str, text: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
        .into_bytes()
    };
    let uses_at = |t: &[u8]| t.windows(3).any(|w| w == b"%40") || t.contains(&b'@');
    let out = match fault {
        Some(Fault::NoAtModifier) if uses_at(head.as_bytes()) || uses_at(&body) => canned(
            "400 Bad Request",
            "application/json",
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: @ modifier is disabled"}"#,
        ),
        Some(Fault::NoAtModifier) => match forward(&head, &body, upstream) {
            Some(r) => r,
            None => return,
        },
        Some(Fault::Reset) => return reset(stream),
        Some(Fault::Unavailable) => canned(
            "503 Service Unavailable",
            "text/plain",
            "upstream connect error or disconnect/reset before headers",
        ),
        Some(Fault::WrongType) => canned(
            "200 OK",
            "text/html",
            "<html><head><title>Sign in</title></head><body>Please sign in</body></html>",
        ),
        Some(Fault::Slow) => {
            std::thread::sleep(slow);
            match forward(&head, &body, upstream) {
                Some(r) => r,
                None => return,
            }
        }
        Some(Fault::Truncated) => match forward(&head, &body, upstream) {
            Some(r) => {
                let body_at = r
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| i + 4)
                    .unwrap_or(0);
                let keep = body_at + (r.len() - body_at) / 2;
                r[..keep].to_vec()
            }
            None => return,
        },
        None => match forward(&head, &body, upstream) {
            Some(r) => r,
            None => return,
        },
    };
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}
