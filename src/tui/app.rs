//! The event loop, the real terminal, and the live capture feed. This is the
//! only code that touches the terminal or reads the wall clock (for the
//! redraw and refresh rates, never for analysis).

use super::input::to_msg;
use super::model::{LiveUpdate, Model};
use super::update::{update, Msg};
use super::view::view;
use crate::capture::live::{Event as CapEvent, LiveCapture};
use crate::engine::Options;
use crate::live::{LiveSession, LiveSink, SessionConfig};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::Terminal;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where terminal events come from: the real terminal, or a script in tests.
pub trait EventSource {
    /// The next event, waiting at most `timeout`; None if nothing came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// crossterm's event queue (the real terminal).
pub struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Scripted events for tests. When the script runs out it reports one idle
/// wait (so the loop draws the final state), then Ctrl-C, so the loop always ends.
pub struct ScriptedEvents(pub VecDeque<Event>, bool);

impl ScriptedEvents {
    pub fn new(events: impl IntoIterator<Item = Event>) -> Self {
        ScriptedEvents(events.into_iter().collect(), false)
    }
    /// Key presses from a string: each char is a key; `\n` Enter, `\x1b` Esc, `\t` Tab.
    pub fn keys(s: &str) -> Vec<Event> {
        s.chars()
            .map(|c| {
                let code = match c {
                    '\n' => KeyCode::Enter,
                    '\x1b' => KeyCode::Esc,
                    '\t' => KeyCode::Tab,
                    c => KeyCode::Char(c),
                };
                Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
            })
            .collect()
    }
}

impl EventSource for ScriptedEvents {
    fn next(&mut self, _timeout: Duration) -> io::Result<Option<Event>> {
        if let Some(e) = self.0.pop_front() {
            return Ok(Some(e));
        }
        if !self.1 {
            self.1 = true;
            return Ok(None);
        }
        Ok(Some(Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))))
    }
}

/// Where new data comes from (live captures); polled without blocking.
pub trait Feed {
    fn poll(&mut self) -> Option<Msg>;
}

/// No new data (capture files: everything is in the model from the start).
pub struct NoFeed;

impl Feed for NoFeed {
    fn poll(&mut self) -> Option<Msg> {
        None
    }
}

/// Scripted live updates for tests: one per poll.
pub struct ScriptedFeed(pub VecDeque<LiveUpdate>);

impl Feed for ScriptedFeed {
    fn poll(&mut self) -> Option<Msg> {
        self.0.pop_front().map(Msg::Live)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Least time between two frames (bounds the redraw rate).
    pub frame_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            frame_interval: Duration::from_millis(100),
        }
    }
}

fn backend_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> io::Error {
    io::Error::other(e)
}

/// Runs the dashboard until the user quits. The terminal backend, the event
/// source and the data feed are parameters, so tests run it with ratatui's
/// `TestBackend` and scripted events.
pub fn run<B>(
    terminal: &mut Terminal<B>,
    model: &mut Model,
    events: &mut dyn EventSource,
    feed: &mut dyn Feed,
    opts: RunOptions,
) -> io::Result<()>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let size = terminal.size().map_err(backend_err)?;
    update(model, Msg::Resize(size.width, size.height));
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    while !model.quit {
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= opts.frame_interval) {
            terminal.draw(|f| view(model, f)).map_err(backend_err)?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        // Data first, without blocking.
        while let Some(msg) = feed.poll() {
            update(model, msg);
            dirty = true;
        }
        let wait = if dirty {
            last_draw.map_or(Duration::ZERO, |t| {
                opts.frame_interval.saturating_sub(t.elapsed())
            })
        } else {
            Duration::from_millis(50)
        };
        if let Some(ev) = events.next(wait)? {
            if let Some(msg) = to_msg(model, &ev) {
                update(model, msg);
                dirty = true;
            }
            // Drain what is already queued before drawing.
            while let Some(ev) = events.next(Duration::ZERO)? {
                if let Some(msg) = to_msg(model, &ev) {
                    update(model, msg);
                    dirty = true;
                }
                if model.quit {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Raw mode, alternate screen and mouse capture, undone on drop and on panic.
pub struct TerminalGuard;

fn restore_terminal() {
    use crossterm::{cursor, event::DisableMouseCapture, terminal, ExecutableCommand};
    let _ = terminal::disable_raw_mode();
    let mut out = io::stdout();
    let _ = out.execute(DisableMouseCapture);
    let _ = out.execute(terminal::LeaveAlternateScreen);
    let _ = out.execute(cursor::Show);
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        use crossterm::{event::EnableMouseCapture, terminal, ExecutableCommand};
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        let mut out = io::stdout();
        out.execute(terminal::EnterAlternateScreen)?;
        out.execute(EnableMouseCapture)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the dashboard on the real terminal (stdout).
pub fn run_terminal(model: &mut Model, feed: &mut dyn Feed) -> io::Result<()> {
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    run(
        &mut terminal,
        model,
        &mut TerminalEvents,
        feed,
        RunOptions::default(),
    )
}

/// A live capture analysed on its own thread; the dashboard gets a
/// [`LiveUpdate`] at most every `refresh`.
pub struct LiveFeed {
    rx: Receiver<LiveUpdate>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    done: bool,
}

/// Collects the connections that finished since the last update.
#[derive(Default)]
struct Finished(Vec<crate::analysis::ConnectionRecord>);

impl LiveSink for Finished {
    fn row(&mut self, _r: &crate::analysis::ConnectionRecord, _amended: bool) -> io::Result<()> {
        Ok(())
    }
    fn finished(&mut self, r: &crate::analysis::ConnectionRecord) {
        self.0.push(r.clone());
    }
}

impl LiveFeed {
    pub fn start(cap: LiveCapture, opts: Options, refresh: Duration) -> Result<LiveFeed, String> {
        // The records stream to the dashboard: the analyzer keeps none.
        let opts = Options {
            slim_records: true,
            ..opts
        };
        let mut session = LiveSession::new(opts, SessionConfig::default())?;
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keepwatch-tui-analysis".into())
            .spawn(move || {
                // The session's clock: monotonic time since the start.
                let started = Instant::now();
                let mut fresh = Finished::default();
                let mut last = Instant::now();
                let mut ended: Option<Option<String>> = None;
                let mut changed = true;
                loop {
                    if stop2.load(Ordering::Relaxed) {
                        cap.request_stop();
                    }
                    match cap.next(Duration::from_millis(50)) {
                        Some(CapEvent::Packets(b)) => {
                            session.batch(b.packets(), started.elapsed(), &mut fresh);
                            changed = true;
                        }
                        Some(CapEvent::Ended(msg)) => ended = Some(msg),
                        None => {
                            // Closed connections finish after their linger
                            // without more traffic.
                            let before = fresh.0.len();
                            session.quiet(started.elapsed(), &mut fresh);
                            changed |= fresh.0.len() != before;
                        }
                    }
                    if ended.is_some() || (changed && last.elapsed() >= refresh) {
                        last = Instant::now();
                        changed = false;
                        let an = session.analyzer();
                        let c = &cap.counters;
                        let u = LiveUpdate {
                            new_finished: std::mem::take(&mut fresh.0),
                            open: an.open_records(),
                            packets: an.packets(),
                            drops: c.kernel_dropped.load(Ordering::Relaxed)
                                + c.interface_dropped.load(Ordering::Relaxed)
                                + c.dropped_by_keepwatch.load(Ordering::Relaxed),
                            ended: ended.clone(),
                        };
                        if tx.send(u).is_err() || ended.is_some() {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the analysis thread: {e}"))?;
        Ok(LiveFeed {
            rx,
            stop,
            thread: Some(thread),
            done: false,
        })
    }
}

impl Feed for LiveFeed {
    fn poll(&mut self) -> Option<Msg> {
        if self.done {
            return None;
        }
        match self.rx.try_recv() {
            Ok(u) => Some(Msg::Live(u)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.done = true;
                None
            }
        }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // libpcap can sit in a read until the next packet arrives, so a quiet
        // interface could hold the quit forever: wait a little, then leave the
        // thread to the process exit.
        if let Some(t) = self.thread.take() {
            let start = Instant::now();
            while !t.is_finished() && start.elapsed() < Duration::from_millis(300) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}
