//! The dashboard's state: plain data, changed only by [`super::update::update`]
//! and drawn only by [`super::view::view`]. Nothing here reads the clock or the
//! terminal.

use crate::analysis::{ConnectionRecord, GroupStats, Summary, SummaryBuilder};
use crate::engine::Report;
use crate::tcp::ClosedBy;
use std::collections::BTreeMap;

/// The four screens Tab cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Connections,
    Servers,
    Hosts,
    Histogram,
    /// Why connections were not reused (docs/findings.md).
    Findings,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Connections,
        View::Servers,
        View::Hosts,
        View::Histogram,
        View::Findings,
    ];
    pub fn title(self) -> &'static str {
        match self {
            View::Connections => "Connections",
            View::Servers => "Servers",
            View::Hosts => "Hosts",
            View::Histogram => "Requests/conn",
            View::Findings => "Findings",
        }
    }
    pub fn next(self) -> View {
        let i = View::ALL.iter().position(|&v| v == self).unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()]
    }
    pub fn prev(self) -> View {
        let i = View::ALL.iter().position(|&v| v == self).unwrap_or(0);
        View::ALL[(i + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// Sort columns of the connections table, in the order `s` cycles them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnSort {
    Id,
    Client,
    Server,
    Host,
    Requests,
    State,
    CloseReason,
    Idle,
    Duration,
    Verdict,
}

impl ConnSort {
    pub const ALL: [ConnSort; 10] = [
        ConnSort::Id,
        ConnSort::Client,
        ConnSort::Server,
        ConnSort::Host,
        ConnSort::Requests,
        ConnSort::State,
        ConnSort::CloseReason,
        ConnSort::Idle,
        ConnSort::Duration,
        ConnSort::Verdict,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ConnSort::Id => "#",
            ConnSort::Client => "client",
            ConnSort::Server => "server",
            ConnSort::Host => "host",
            ConnSort::Requests => "req",
            ConnSort::State => "state",
            ConnSort::CloseReason => "close reason",
            ConnSort::Idle => "idle",
            ConnSort::Duration => "duration",
            ConnSort::Verdict => "verdict",
        }
    }
    pub fn next(self) -> ConnSort {
        let i = ConnSort::ALL.iter().position(|&v| v == self).unwrap_or(0);
        ConnSort::ALL[(i + 1) % ConnSort::ALL.len()]
    }
}

/// Sort columns of the per-server and per-host tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSort {
    Name,
    Connections,
    Requests,
    Reused,
    Mean,
}

impl GroupSort {
    pub const ALL: [GroupSort; 5] = [
        GroupSort::Name,
        GroupSort::Connections,
        GroupSort::Requests,
        GroupSort::Reused,
        GroupSort::Mean,
    ];
    pub fn name(self) -> &'static str {
        match self {
            GroupSort::Name => "name",
            GroupSort::Connections => "conns",
            GroupSort::Requests => "reqs",
            GroupSort::Reused => "reused",
            GroupSort::Mean => "req/conn",
        }
    }
    pub fn next(self) -> GroupSort {
        let i = GroupSort::ALL.iter().position(|&v| v == self).unwrap_or(0);
        GroupSort::ALL[(i + 1) % GroupSort::ALL.len()]
    }
}

/// What the live capture thread hands the dashboard (at most a few times a
/// second): the connections that finished since the last update, every
/// connection still open, and the counters.
#[derive(Debug, Clone, Default)]
pub struct LiveUpdate {
    pub new_finished: Vec<ConnectionRecord>,
    pub open: Vec<ConnectionRecord>,
    pub packets: u64,
    pub drops: u64,
    /// The capture ended (with a reason when it was an error).
    pub ended: Option<Option<String>>,
}

impl LiveUpdate {
    /// Folds a later update into this one (used while the view is paused).
    pub fn merge(&mut self, later: LiveUpdate) {
        self.new_finished.extend(later.new_finished);
        self.open = later.open;
        self.packets = later.packets;
        self.drops = later.drops;
        if later.ended.is_some() {
            self.ended = later.ended;
        }
    }
}

/// Connection state as the table shows it.
pub fn state_text(r: &ConnectionRecord) -> &'static str {
    match r.closed_by {
        ClosedBy::Client => "closed by client",
        ClosedBy::Server => "closed by server",
        ClosedBy::ClientReset => "reset by client",
        ClosedBy::ServerReset => "reset by server",
        // Still open at the end of the capture (or now, live): kept alive
        // once it has served something, merely open before that.
        ClosedBy::Open if r.responses > 0 || r.uses() > 0 => "kept alive",
        ClosedBy::Open => "open",
    }
}

/// The colour class of a row: the text report's rule.
pub use crate::report::tone::{tone, Tone};

/// Text the filter matches against: addresses and ports, host, verdict,
/// close reason, state, protocol, HTTP version.
/// Everything the dashboard shows comes through here once, on its way into
/// the model: every string that came from a packet or a file name under the
/// one escaping policy ([`crate::escape`]), so no control, bidi or
/// zero-width character from the capture reaches the terminal.
pub fn terminal_safe(mut r: ConnectionRecord) -> ConnectionRecord {
    fn s(v: &mut String) {
        if let std::borrow::Cow::Owned(e) = crate::escape::text(v) {
            *v = e;
        }
    }
    fn o(v: &mut Option<String>) {
        if let Some(v) = v {
            s(v);
        }
    }
    fn oc(v: &mut Option<compact_str::CompactString>) {
        if let Some(v) = v {
            if let std::borrow::Cow::Owned(e) = crate::escape::text(v) {
                *v = e.into();
            }
        }
    }
    s(&mut r.client);
    s(&mut r.server);
    o(&mut r.host);
    o(&mut r.file);
    o(&mut r.tcp.handshake_detail);
    r.warnings.iter_mut().for_each(s);
    for e in &mut r.exchanges {
        for f in [
            &mut e.target,
            &mut e.host,
            &mut e.request.keep_alive,
            &mut e.response.keep_alive,
        ] {
            oc(f);
        }
        if let Some(x) = e.rare_if_set_mut() {
            let [c0, c1] = &mut x.connection;
            for f in [
                c0,
                c1,
                &mut x.method,
                &mut x.reason,
                &mut x.transfer_encoding,
                &mut x.content_encoding,
                &mut x.upgrade,
                &mut x.expect,
            ] {
                oc(f);
            }
        }
    }
    if let Some(t) = &mut r.tls {
        for f in [
            &mut t.version,
            &mut t.sni,
            &mut t.alpn,
            &mut t.resumption,
            &mut t.alert,
        ] {
            o(f);
        }
        t.alpn_offered.iter_mut().for_each(s);
        t.versions_offered.iter_mut().for_each(s);
    }
    if let Some(sw) = &mut r.protocol_switch {
        o(&mut sw.protocol);
        o(&mut sw.target);
    }
    r
}

fn haystack(r: &ConnectionRecord) -> String {
    format!(
        "#{} {} {} {} {} {} {} {} http/{}",
        r.id,
        r.client,
        r.server,
        r.host.as_deref().unwrap_or(""),
        r.verdict.as_str(),
        r.close_reason.as_str(),
        state_text(r),
        r.protocol,
        r.http_version.unwrap_or("")
    )
    .to_lowercase()
}

/// Does the record's text contain every whitespace-separated term (case-insensitive)?
pub fn matches_filter(hay: &str, filter: &str) -> bool {
    filter
        .split_whitespace()
        .all(|t| hay.contains(&t.to_lowercase()))
}

#[derive(Debug, Clone)]
pub struct Model {
    /// Where the packets come from ("file x.pcap", "live eth0").
    pub source: String,
    pub live: bool,
    pub paused: bool,
    /// Live: the capture has ended (with its error message, if any).
    pub ended: Option<Option<String>>,
    pub packets: u64,
    pub drops: u64,
    /// Warnings of the report (files) to show in the footer of the histogram view.
    pub warnings: Vec<String>,

    /// The connections shown: finished ones first, then (live) the open
    /// ones. Live, only the last [`LIVE_FINISHED_KEPT`] finished ones are
    /// kept; the summary counts them all.
    records: Vec<ConnectionRecord>,
    finished: usize,
    hay: Vec<String>,
    /// Every finished connection, folded as it came (live: one update's new
    /// records at a time, never the whole list again).
    finished_summary: SummaryBuilder,
    /// Finished connections no longer in `records` (live).
    pub dropped: u64,
    /// Indices into `records` of the rows shown, filtered and sorted.
    visible: Vec<usize>,
    pub summary: Summary,
    /// Per-second counts of new connections and of requests (capture time,
    /// whole seconds; the last [`MAX_SECONDS`] seconds that have any).
    pub conns_per_sec: BTreeMap<i64, u64>,
    pub reqs_per_sec: BTreeMap<i64, u64>,
    servers: Vec<(String, GroupStats)>,
    hosts: Vec<(String, GroupStats)>,

    pub view: View,
    pub detail: bool,
    pub help: bool,
    /// The filter being typed (Some while editing).
    pub filter_edit: Option<String>,
    pub filter: String,
    pub sort: ConnSort,
    pub sort_desc: bool,
    pub group_sort: GroupSort,
    pub group_sort_desc: bool,
    /// Selected row and first shown row of the connections table.
    pub selected: usize,
    pub offset: usize,
    /// The same for the servers and hosts tables.
    pub group_selected: [usize; 2],
    pub group_offset: [usize; 2],
    pub detail_scroll: u16,
    /// First line shown in the findings view.
    pub findings_scroll: u16,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub quit: bool,
    /// A one-line message for the footer (e.g. "not a live capture").
    pub status: Option<String>,
    /// Live updates received while paused.
    pub pending: Option<LiveUpdate>,
}

impl Model {
    fn empty(source: String, live: bool) -> Model {
        Model {
            source: crate::escape::text(&source).into_owned(),
            live,
            paused: false,
            ended: None,
            packets: 0,
            drops: 0,
            warnings: Vec::new(),
            records: Vec::new(),
            finished: 0,
            hay: Vec::new(),
            finished_summary: SummaryBuilder::new(),
            dropped: 0,
            visible: Vec::new(),
            summary: Summary::default(),
            conns_per_sec: BTreeMap::new(),
            reqs_per_sec: BTreeMap::new(),
            servers: Vec::new(),
            hosts: Vec::new(),
            view: View::Connections,
            detail: false,
            help: false,
            filter_edit: None,
            filter: String::new(),
            sort: ConnSort::Id,
            sort_desc: false,
            group_sort: GroupSort::Connections,
            group_sort_desc: true,
            selected: 0,
            offset: 0,
            group_selected: [0; 2],
            group_offset: [0; 2],
            detail_scroll: 0,
            findings_scroll: 0,
            size: (80, 24),
            quit: false,
            status: None,
            pending: None,
        }
    }

    /// A model over a finished report (capture files).
    pub fn from_report(source: impl Into<String>, rep: &Report) -> Model {
        let mut m = Model::empty(source.into(), false);
        m.packets = rep.summary.packets;
        m.drops = rep.files.iter().filter_map(|f| f.interface_drops).sum();
        m.warnings = rep
            .summary
            .warnings
            .iter()
            .map(|w| crate::escape::text(w).into_owned())
            .collect();
        let recs = rep.connections.iter().cloned().map(terminal_safe).collect();
        m.set_records(recs);
        m
    }

    /// A model over records alone (tests, or any other source).
    pub fn from_records(source: impl Into<String>, records: Vec<ConnectionRecord>) -> Model {
        let mut m = Model::empty(source.into(), false);
        let recs = records.into_iter().map(terminal_safe).collect();
        m.set_records(recs);
        m
    }

    /// An empty live model; [`LiveUpdate`]s fill it.
    pub fn new_live(source: impl Into<String>) -> Model {
        Model::empty(source.into(), true)
    }

    pub fn records(&self) -> &[ConnectionRecord] {
        &self.records
    }

    /// The rows of the connections table, in display order.
    pub fn visible(&self) -> impl ExactSizeIterator<Item = &ConnectionRecord> + '_ {
        self.visible.iter().map(move |&i| &self.records[i])
    }

    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    pub fn visible_ids(&self) -> Vec<u64> {
        self.visible().map(|r| r.id).collect()
    }

    pub fn selected_record(&self) -> Option<&ConnectionRecord> {
        self.visible.get(self.selected).map(|&i| &self.records[i])
    }

    /// Connections still open in a live capture's flow table.
    pub fn open_in_table(&self) -> usize {
        self.records.len() - self.finished.min(self.records.len())
    }

    /// The per-server (`Servers`) or per-host (`Hosts`) rows, in display order.
    pub fn groups(&self, view: View) -> &[(String, GroupStats)] {
        match view {
            View::Hosts => &self.hosts,
            _ => &self.servers,
        }
    }

    /// Finished connections that came while the view was paused and will
    /// never be shown (more than [`LIVE_FINISHED_KEPT`] of them): folded into
    /// the summary and the per-second counts now, so a long pause costs
    /// bounded memory; they count as dropped from the list.
    pub fn absorb_unshown(&mut self, rs: impl IntoIterator<Item = ConnectionRecord>) {
        for r in rs.into_iter().map(terminal_safe) {
            self.finished_summary.add(&r);
            per_second(&mut self.conns_per_sec, &mut self.reqs_per_sec, &r, true);
            self.dropped += 1;
        }
    }

    /// Applies a live update (not while paused: see `update`): the new
    /// finished connections are folded into the summary and added to the
    /// bounded list, the open ones replace the previous open ones. Costs what
    /// changed (plus sorting the rows shown), not the whole capture.
    pub fn apply_live(&mut self, u: LiveUpdate) {
        self.packets = u.packets;
        self.drops = u.drops;
        if let Some(end) = u.ended {
            self.ended = Some(end.map(|m| crate::escape::text(&m).into_owned()));
        }
        let keep = self.selected_record().map(|r| r.id);
        self.visible.clear();
        // The open connections of the last update go: they are either
        // finished now or among the new open ones.
        for r in self.records.drain(self.finished..) {
            per_second(&mut self.conns_per_sec, &mut self.reqs_per_sec, &r, false);
        }
        self.hay.truncate(self.finished);
        for r in u.new_finished.into_iter().map(terminal_safe) {
            self.finished_summary.add(&r);
            per_second(&mut self.conns_per_sec, &mut self.reqs_per_sec, &r, true);
            self.hay.push(haystack(&r));
            self.records.push(r);
        }
        let over = self.records.len().saturating_sub(LIVE_FINISHED_KEPT);
        if over > 0 {
            self.records.drain(..over);
            self.hay.drain(..over);
            self.dropped += over as u64;
        }
        self.finished = self.records.len();
        let mut summary = self.finished_summary.clone();
        for r in u.open.into_iter().map(terminal_safe) {
            summary.add(&r);
            per_second(&mut self.conns_per_sec, &mut self.reqs_per_sec, &r, true);
            self.hay.push(haystack(&r));
            self.records.push(r);
        }
        self.summary = summary.finish();
        for m in [&mut self.conns_per_sec, &mut self.reqs_per_sec] {
            while m.len() > MAX_SECONDS {
                m.pop_first();
            }
        }
        self.rebuild_groups();
        self.refilter(keep);
    }

    /// Sets the records of a finished capture (files), all of them.
    fn set_records(&mut self, records: Vec<ConnectionRecord>) {
        self.finished = records.len();
        self.records = records;
        self.hay = self.records.iter().map(haystack).collect();
        let mut b = SummaryBuilder::new();
        for r in &self.records {
            b.add(r);
            per_second(&mut self.conns_per_sec, &mut self.reqs_per_sec, r, true);
        }
        self.summary = b.clone().finish();
        self.finished_summary = b;
        self.rebuild_groups();
        self.refilter(None);
    }

    pub(crate) fn rebuild_groups(&mut self) {
        let key = self.group_sort;
        let desc = self.group_sort_desc;
        let sort = |v: &mut Vec<(String, GroupStats)>| {
            v.sort_by(|a, b| {
                let o = match key {
                    GroupSort::Name => a.0.cmp(&b.0),
                    GroupSort::Connections => a.1.connections.cmp(&b.1.connections),
                    GroupSort::Requests => a.1.requests.cmp(&b.1.requests),
                    GroupSort::Reused => a.1.reused_connections.cmp(&b.1.reused_connections),
                    GroupSort::Mean => {
                        a.1.requests_per_connection_mean
                            .total_cmp(&b.1.requests_per_connection_mean)
                    }
                };
                let o = if desc { o.reverse() } else { o };
                o.then_with(|| a.0.cmp(&b.0))
            });
        };
        self.servers = self
            .summary
            .per_server
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.hosts = self
            .summary
            .per_host
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        sort(&mut self.servers);
        sort(&mut self.hosts);
        for (i, n) in [self.servers.len(), self.hosts.len()]
            .into_iter()
            .enumerate()
        {
            self.group_selected[i] = self.group_selected[i].min(n.saturating_sub(1));
        }
    }

    /// Recomputes the shown rows (filter, then sort); the selection stays on
    /// connection `keep` when it is still shown.
    pub(crate) fn refilter(&mut self, keep: Option<u64>) {
        let recs = &self.records;
        let mut vis: Vec<usize> = (0..recs.len())
            .filter(|&i| matches_filter(&self.hay[i], &self.filter))
            .collect();
        let key = self.sort;
        vis.sort_by(|&a, &b| {
            let (x, y) = (&recs[a], &recs[b]);
            let o = match key {
                ConnSort::Id => x.id.cmp(&y.id),
                ConnSort::Client => x.client.cmp(&y.client),
                ConnSort::Server => x.server.cmp(&y.server),
                ConnSort::Host => x.host.cmp(&y.host),
                ConnSort::Requests => x.requests.cmp(&y.requests),
                ConnSort::State => state_text(x).cmp(state_text(y)),
                ConnSort::CloseReason => x.close_reason.as_str().cmp(y.close_reason.as_str()),
                ConnSort::Idle => x.idle_before_close.cmp(&y.idle_before_close),
                ConnSort::Duration => x.duration.cmp(&y.duration),
                ConnSort::Verdict => x.verdict.as_str().cmp(y.verdict.as_str()),
            };
            let o = if self.sort_desc { o.reverse() } else { o };
            o.then_with(|| x.id.cmp(&y.id))
        });
        self.visible = vis;
        if let Some(id) = keep {
            if let Some(p) = self.visible.iter().position(|&i| self.records[i].id == id) {
                self.selected = p;
            }
        }
        self.clamp_selection();
    }

    /// Table rows the connections table shows at the current size.
    pub fn page_rows(&self) -> usize {
        super::layout::table_body_rows(self.size.0, self.size.1).max(1)
    }

    /// Keeps the selection inside the rows and the selected row on screen.
    pub(crate) fn clamp_selection(&mut self) {
        let n = self.visible.len();
        let page = self.page_rows();
        self.selected = self.selected.min(n.saturating_sub(1));
        self.offset = scroll_into_view(self.selected, self.offset, page, n);
        for (i, v) in [View::Servers, View::Hosts].into_iter().enumerate() {
            let n = self.groups(v).len();
            self.group_selected[i] = self.group_selected[i].min(n.saturating_sub(1));
            self.group_offset[i] =
                scroll_into_view(self.group_selected[i], self.group_offset[i], page, n);
        }
    }
}

/// Finished connections a live dashboard keeps to show (the oldest go
/// first); the summary and the other views count every one.
pub const LIVE_FINISHED_KEPT: usize = 10_000;

/// Seconds the per-second counts keep (a day of traffic).
pub const MAX_SECONDS: usize = 86_400;

/// Counts (`add`) or uncounts a connection and its requests in the
/// per-second maps (capture time, whole seconds).
fn per_second(
    conns: &mut BTreeMap<i64, u64>,
    reqs: &mut BTreeMap<i64, u64>,
    r: &ConnectionRecord,
    add: bool,
) {
    let bump = |m: &mut BTreeMap<i64, u64>, t: crate::time::Timestamp| {
        let k = t.as_nanos().div_euclid(1_000_000_000);
        if add {
            *m.entry(k).or_default() += 1;
        } else if let std::collections::btree_map::Entry::Occupied(mut e) = m.entry(k) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    };
    bump(conns, r.start);
    for e in &r.exchanges {
        if let (Some(_), Some(t)) = (e.method(), e.request.time()) {
            bump(reqs, t);
        }
    }
}

/// The first row to show so that `selected` is on a page of `page` rows out of `n`.
pub fn scroll_into_view(selected: usize, offset: usize, page: usize, n: usize) -> usize {
    let page = page.max(1);
    let mut off = offset;
    if selected < off {
        off = selected;
    } else if selected >= off + page {
        off = selected + 1 - page;
    }
    off.min(n.saturating_sub(page))
}

/// The scrolling panes' lengths (their scroll bounds), from the model alone:
/// see [`super::layout`].
impl Model {
    /// Lines of the detail pane for the selected connection.
    pub fn detail_line_count(&self) -> usize {
        super::layout::detail_line_count(self.selected_record(), self.size.0)
    }

    /// Rows the findings view needs at the terminal's width.
    pub fn findings_line_count(&self) -> usize {
        super::layout::findings_line_count(&self.summary.findings, self.size.0)
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
