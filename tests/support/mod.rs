//! Helpers for the live-capture tests: capability checks, a private nginx,
//! a `keepwatch live` child process, bounded polling. Everything is cleaned
//! up by Drop guards, and all traffic stays on 127.0.0.1 / ::1.
#![allow(dead_code)]

use std::io::Read;
use std::net::{Ipv6Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why this machine cannot run the live tests, if it cannot.
pub fn capture_unavailable() -> Option<String> {
    // CAP_NET_RAW is bit 13 of the effective capability set (root has it).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if cap_eff & (1 << 13) == 0 {
        return Some(format!(
            "cannot capture: not root and no CAP_NET_RAW (euid {})",
            // SAFETY: geteuid cannot fail.
            unsafe { libc::geteuid() }
        ));
    }
    None
}

/// Skips the calling test with a printed reason when the machine cannot capture.
#[macro_export]
macro_rules! require_capture {
    () => {
        if let Some(why) = support::capture_unavailable() {
            common::skip(&why);
            return;
        }
    };
}

/// A program on PATH (or in the sbin directories, where nginx lives).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Polls `f` every 20 ms until it returns Some, or panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if t0.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn ipv6_loopback() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A TCP port free on 127.0.0.1 (and on ::1 when `v6`).
pub fn free_port(v6: bool) -> u16 {
    for _ in 0..50 {
        let l4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l4.local_addr().unwrap().port();
        if !v6 || TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on both 127.0.0.1 and ::1");
}

/// A child process killed (SIGKILL) and reaped on drop if still running.
pub struct ChildGuard {
    pub child: Child,
    pub name: &'static str,
}

impl ChildGuard {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: sending a signal to our own child, which we have not reaped.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill({}, {sig}) failed", self.name);
    }
    /// Waits for exit, at most `limit`.
    pub fn wait_timeout(&mut self, limit: Duration) -> ExitStatus {
        let name = self.name;
        let child = &mut self.child;
        wait_for(&format!("{name} to exit"), limit, || {
            child.try_wait().expect("try_wait")
        })
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// nginx on 127.0.0.1:port (and [::1]:port) with its own config and prefix in
/// a temp dir; stopped on drop.
pub struct Nginx {
    guard: ChildGuard,
    pub port: u16,
    pub v6: bool,
    _dir: tempfile::TempDir,
}

pub const KEEPALIVE_TIMEOUT_S: u64 = 15;
pub const KEEPALIVE_REQUESTS: u64 = 100;

impl Nginx {
    /// None (with the reason) when nginx is not installed.
    pub fn start(v6: bool) -> Result<Nginx, String> {
        Self::start_with(v6, None)
    }

    /// nginx over TLS (HTTP/1.1 and h2 by ALPN) on 127.0.0.1, with a
    /// self-signed certificate made by `openssl` in its temp dir.
    pub fn start_tls() -> Result<Nginx, String> {
        let openssl = which("openssl").ok_or("openssl not installed")?;
        Self::start_with(false, Some(openssl))
    }

    fn start_with(v6: bool, tls: Option<PathBuf>) -> Result<Nginx, String> {
        let bin = which("nginx").ok_or("nginx not installed (apt-get install nginx-light)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let p = dir.path();
        std::fs::create_dir_all(p.join("logs")).unwrap();
        let port = free_port(v6);
        let listen6 = if v6 {
            format!("listen [::1]:{port};")
        } else {
            String::new()
        };
        let ssl = match &tls {
            None => ";".to_string(),
            Some(openssl) => {
                let st = Command::new(openssl)
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    ])
                    .args(["-subj", "/CN=localhost", "-keyout"])
                    .arg(p.join("key.pem"))
                    .arg("-out")
                    .arg(p.join("cert.pem"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_err(|e| format!("openssl: {e}"))?;
                if !st.success() {
                    return Err(format!("openssl req failed: {st}"));
                }
                format!(
                    "ssl http2; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;",
                    d = p.display()
                )
            }
        };
        // `keepalive_timeout T T` also sends `Keep-Alive: timeout=T`.
        let conf = format!(
            r#"worker_processes 1;
error_log {d}/logs/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp_body;
  proxy_temp_path {d}/tmp_proxy;
  fastcgi_temp_path {d}/tmp_fastcgi;
  uwsgi_temp_path {d}/tmp_uwsgi;
  scgi_temp_path {d}/tmp_scgi;
  keepalive_timeout {t}s {t};
  keepalive_requests {r};
  server {{
    listen 127.0.0.1:{port} {ssl}
    {listen6}
    # SSI drops Content-Length: HTTP/1.1 gets a chunked body, HTTP/1.0 a
    # close-delimited one, so for HTTP/1.0 the server's FIN always comes
    # first (with a Content-Length, curl -0 races nginx to close).
    location / {{ default_type text/html; ssi on; return 200 "hello from keepwatch test\n"; }}
  }}
}}
"#,
            d = p.display(),
            t = KEEPALIVE_TIMEOUT_S,
            r = KEEPALIVE_REQUESTS,
        );
        let conf_path = p.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(p.join("nginx.out")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(p)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let mut guard = ChildGuard {
            child,
            name: "nginx",
        };
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = guard.child.try_wait() {
                let out = std::fs::read_to_string(p.join("nginx.out")).unwrap_or_default();
                let err = std::fs::read_to_string(p.join("logs/error.log")).unwrap_or_default();
                return Err(format!("nginx exited ({st}): {out}{err}"));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err("nginx did not start listening within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nginx {
            guard,
            port,
            v6,
            _dir: dir,
        })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Fast shutdown; the guard's SIGKILL follows if it lingers.
        if let Ok(None) = self.guard.child.try_wait() {
            self.guard.signal(libc::SIGTERM);
            let child = &mut self.guard.child;
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// `keepwatch live ...` with stdout and stderr going to files in a temp dir.
pub struct Live {
    pub guard: ChildGuard,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

pub const LISTENING: &str = "keepwatch: listening on ";

impl Live {
    pub fn spawn(bin: &Path, args: &[&str], dir: &Path) -> Live {
        Self::spawn_with(Command::new(bin).args(args), dir)
    }

    pub fn spawn_with(cmd: &mut Command, dir: &Path) -> Live {
        let stdout = dir.join("live.stdout");
        let stderr = dir.join("live.stderr");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn keepwatch live");
        Live {
            guard: ChildGuard {
                child,
                name: "keepwatch live",
            },
            stdout,
            stderr,
        }
    }

    pub fn stderr_text(&self) -> String {
        read_lossy(&self.stderr)
    }
    pub fn stdout_text(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// Waits until keepwatch says the device is open, then lets it settle.
    pub fn wait_listening(&mut self) {
        let stderr = self.stderr.clone();
        let child = &mut self.guard.child;
        wait_for(
            "keepwatch to say it is listening",
            Duration::from_secs(30),
            || {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!(
                        "keepwatch live exited early ({st}): {}",
                        read_lossy(&stderr)
                    );
                }
                read_lossy(&stderr).contains(LISTENING).then_some(())
            },
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    /// SIGINT, then the exit status (bounded wait).
    pub fn interrupt(&mut self) -> ExitStatus {
        self.guard.signal(libc::SIGINT);
        self.guard.wait_timeout(Duration::from_secs(30))
    }
}

pub fn read_lossy(p: &Path) -> String {
    let mut v = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_end(&mut v);
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// The connection records and the summary line of JSONL output.
pub fn parse_jsonl(text: &str) -> (Vec<serde_json::Value>, Option<serde_json::Value>) {
    let mut conns = Vec::new();
    let mut summary = None;
    // A line without its newline is still being written (stdout is flushed
    // in 1 KiB pieces): not read yet.
    for line in text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSONL line {line:?}: {e}"));
        if v.get("summary").is_some() {
            summary = Some(v);
        } else {
            conns.push(v);
        }
    }
    (conns, summary)
}

/// uid and gid of a user, if it exists.
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let u = nix::unistd::User::from_name(name).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}
