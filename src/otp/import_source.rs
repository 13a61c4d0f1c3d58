//! Where `otpd import stytch` reads from, page by page, and the checkpoint that makes a run
//! resumable: Stytch's search APIs (`users.search`, `organizations.search`,
//! `organizations.members.search`, on Stytch or any compatible server) or a JSON-lines file of
//! the same objects, one per line, each with a `"type"` of `user`, `organization` or `member`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::import::Kind;

/// Stytch's hosts, as its SDKs choose them from the project id.
pub const STYTCH_LIVE_URL: &str = "https://api.stytch.com";
pub const STYTCH_TEST_URL: &str = "https://test.stytch.com";

/// Records of one page written at once by a real run, each on its own connection (the
/// admin pool has 20 by default): the import is bound by round trips, not CPU.
const CONCURRENT_RECORDS: usize = 8;

/// Members are listed for this many organizations per request (Stytch's search takes a list).
const ORGS_PER_MEMBER_SEARCH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Users,
    Organizations,
    Members,
}

/// How far a run got: written after each page whose records are all written, removed when
/// the run completes (so the next run reads everything again and reports it unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The source and target this checkpoint belongs to; another pair starts over.
    pub key: String,
    pub phase: Phase,
    /// The next page's cursor in this phase (API), or `None` at the phase's start.
    pub cursor: Option<String>,
    /// Members: which batch of organizations the cursor belongs to.
    pub org_batch: usize,
    /// File: how many lines are done.
    pub lines: u64,
}

impl Checkpoint {
    fn start(key: String) -> Self {
        Checkpoint {
            key,
            phase: Phase::Users,
            cursor: None,
            org_batch: 0,
            lines: 0,
        }
    }

    /// The saved checkpoint for `key`, or the start when there is none (or it is another's).
    pub fn load(path: &Path, key: &str) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let saved: Checkpoint = serde_json::from_str(&text)
                    .with_context(|| format!("reading the checkpoint {}", path.display()))?;
                if saved.key == key {
                    Ok(saved)
                } else {
                    Ok(Checkpoint::start(key.to_owned()))
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Checkpoint::start(key.to_owned()))
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a checkpoint.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn is_resumed(&self) -> bool {
        self.phase != Phase::Users || self.cursor.is_some() || self.lines > 0
    }
}

/// One page of objects of one kind (a file page may mix kinds).
pub struct Page {
    pub records: Vec<(Kind, Value)>,
    /// Lines (or objects) that aren't records at all, with why: reported as failed.
    pub unreadable: Vec<String>,
}

pub enum Source {
    Api(ApiSource),
    File(FileSource),
}

impl Source {
    /// The next page after `at`, and where the one after it starts; `None` when done.
    pub async fn next_page(
        &mut self,
        at: &Checkpoint,
    ) -> anyhow::Result<Option<(Page, Checkpoint)>> {
        match self {
            Source::Api(a) => a.next_page(at).await,
            Source::File(f) => f.next_page(at),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Api(a) => format!("{} ({})", a.base, a.project_id),
            Source::File(f) => f.path.display().to_string(),
        }
    }
}

pub struct ApiSource {
    client: reqwest::Client,
    base: String,
    project_id: String,
    secret: SecretString,
    page_size: u32,
    /// Organization ids, listed once when the members phase starts.
    org_ids: Option<Vec<String>>,
    /// Phases the source doesn't serve (a B2B project has no users.search, and the reverse).
    pub skipped: Vec<String>,
}

impl ApiSource {
    pub fn new(
        base: Option<String>,
        project_id: String,
        secret: SecretString,
        ca_pem: Option<&[u8]>,
        page_size: u32,
    ) -> anyhow::Result<Self> {
        let base = base.unwrap_or_else(|| {
            if project_id.starts_with("project-test-") {
                STYTCH_TEST_URL.to_owned()
            } else {
                STYTCH_LIVE_URL.to_owned()
            }
        });
        let base = base.trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("otpd-import/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).context("--ca-file")? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(ApiSource {
            client: builder.build().context("building the HTTP client")?,
            base,
            project_id,
            secret,
            page_size,
            org_ids: None,
            skipped: Vec::new(),
        })
    }

    /// POSTs a search, retrying rate limits (Stytch allows 100 searches a minute), server
    /// errors and network failures with backoff. `Ok(None)`: the source doesn't serve this
    /// search (a 4xx other than 401/429 on a phase's first page, e.g. users.search on a B2B
    /// project), so the phase is skipped; on a later page that is an error, never a skip.
    async fn search(
        &self,
        path: &str,
        body: &Value,
        first_page: bool,
    ) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let mut delay = Duration::from_millis(500);
        for attempt in 0..8 {
            let res = self
                .client
                .post(&url)
                .basic_auth(&self.project_id, Some(self.secret.expose_secret()))
                .json(body)
                .send()
                .await;
            let retry_after = match res {
                Ok(r) if r.status().is_success() => {
                    return Ok(Some(r.json().await.with_context(|| format!("POST {url}"))?))
                }
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    bail!("POST {url}: 401: the source project id or secret is wrong")
                }
                Ok(r)
                    if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || r.status().is_server_error() =>
                {
                    r.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs)
                }
                Ok(r) => {
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    if first_page {
                        tracing::warn!(%status, error_type = %body["error_type"], path, "search not served by the source; skipped");
                        return Ok(None);
                    }
                    bail!("POST {url}: {status} {}", body["error_type"]);
                }
                Err(e) if attempt == 7 => return Err(e).with_context(|| format!("POST {url}")),
                Err(_) => None,
            };
            tokio::time::sleep(retry_after.unwrap_or(delay).min(Duration::from_secs(60))).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        bail!("POST {url}: still refused after retries")
    }

    async fn all_org_ids(&mut self) -> anyhow::Result<Vec<String>> {
        if let Some(ids) = &self.org_ids {
            return Ok(ids.clone());
        }
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let body = json!({"limit": 1000, "cursor": cursor});
            let Some(page) = self
                .search("/v1/b2b/organizations/search", &body, cursor.is_none())
                .await?
            else {
                break;
            };
            for o in page["organizations"].as_array().into_iter().flatten() {
                if let Some(id) = o["organization_id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
            cursor = next_cursor(&page);
            if cursor.is_none() {
                break;
            }
        }
        self.org_ids = Some(ids.clone());
        Ok(ids)
    }

    async fn next_page(&mut self, at: &Checkpoint) -> anyhow::Result<Option<(Page, Checkpoint)>> {
        let mut at = at.clone();
        loop {
            let (path, body, list, kind) = match at.phase {
                Phase::Users => (
                    "/v1/users/search",
                    json!({"limit": self.page_size, "cursor": at.cursor}),
                    "results",
                    Kind::User,
                ),
                Phase::Organizations => (
                    "/v1/b2b/organizations/search",
                    json!({"limit": self.page_size, "cursor": at.cursor}),
                    "organizations",
                    Kind::Organization,
                ),
                Phase::Members => {
                    let ids = self.all_org_ids().await?;
                    let start = at.org_batch * ORGS_PER_MEMBER_SEARCH;
                    if start >= ids.len() {
                        return Ok(None);
                    }
                    let batch = &ids[start..ids.len().min(start + ORGS_PER_MEMBER_SEARCH)];
                    (
                        "/v1/b2b/organizations/members/search",
                        json!({"organization_ids": batch, "limit": self.page_size, "cursor": at.cursor}),
                        "members",
                        Kind::Member,
                    )
                }
            };
            let Some(page) = self.search(path, &body, at.cursor.is_none()).await? else {
                self.skipped.push(path.to_owned());
                match advance(&mut at) {
                    true => continue,
                    false => return Ok(None),
                }
            };
            let records: Vec<(Kind, Value)> = page[list]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| (kind, v.clone()))
                .collect();
            match next_cursor(&page) {
                Some(c) => at.cursor = Some(c),
                None if at.phase == Phase::Members => {
                    at.cursor = None;
                    at.org_batch += 1;
                }
                None => {
                    advance(&mut at);
                }
            }
            let page = Page {
                records,
                unreadable: Vec::new(),
            };
            if page.records.is_empty() && at.cursor.is_none() {
                // An empty last page: move on without reporting a page.
                if at.phase == Phase::Members {
                    let ids = self.all_org_ids().await?;
                    if at.org_batch * ORGS_PER_MEMBER_SEARCH >= ids.len() {
                        return Ok(None);
                    }
                }
                continue;
            }
            return Ok(Some((page, at)));
        }
    }
}

/// To the next phase's start; false after the last phase.
fn advance(at: &mut Checkpoint) -> bool {
    at.cursor = None;
    at.org_batch = 0;
    at.phase = match at.phase {
        Phase::Users => Phase::Organizations,
        Phase::Organizations => Phase::Members,
        Phase::Members => return false,
    };
    true
}

fn next_cursor(page: &Value) -> Option<String> {
    page["results_metadata"]["next_cursor"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

pub struct FileSource {
    pub path: PathBuf,
    lines: Option<std::io::Lines<std::io::BufReader<std::fs::File>>>,
    done: u64,
    page_size: usize,
}

impl FileSource {
    pub fn new(path: PathBuf, page_size: usize) -> Self {
        FileSource {
            path,
            lines: None,
            done: 0,
            page_size,
        }
    }

    fn next_page(&mut self, at: &Checkpoint) -> anyhow::Result<Option<(Page, Checkpoint)>> {
        if self.lines.is_none() {
            let f = std::fs::File::open(&self.path)
                .with_context(|| format!("opening {}", self.path.display()))?;
            let mut lines = std::io::BufReader::new(f).lines();
            for _ in 0..at.lines {
                if lines.next().is_none() {
                    break;
                }
            }
            self.done = at.lines;
            self.lines = Some(lines);
        }
        let Some(lines) = self.lines.as_mut() else {
            return Ok(None);
        };
        let mut page = Page {
            records: Vec::new(),
            unreadable: Vec::new(),
        };
        let mut read = 0;
        while read < self.page_size {
            let Some(line) = lines.next() else { break };
            let line = line.with_context(|| format!("reading {}", self.path.display()))?;
            read += 1;
            self.done += 1;
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(&line) {
                Ok(r) => page.records.push(r),
                Err(why) => page.unreadable.push(format!("line {}: {why}", self.done)),
            }
        }
        if read == 0 {
            return Ok(None);
        }
        let mut next = at.clone();
        next.lines = self.done;
        Ok(Some((page, next)))
    }
}

/// `{"type": "user"|"organization"|"member", ...the Stytch object}`.
pub fn parse_line(line: &str) -> Result<(Kind, Value), String> {
    let mut v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let Some(obj) = v.as_object_mut() else {
        return Err("not a JSON object".into());
    };
    let kind = match obj.remove("type").as_ref().and_then(Value::as_str) {
        Some("user") => Kind::User,
        Some("organization") => Kind::Organization,
        Some("member") => Kind::Member,
        _ => return Err("\"type\" is not user, organization or member".into()),
    };
    Ok((kind, v))
}

/// One JSON line of the file format for an object of `kind`.
pub fn to_line(kind: Kind, obj: &Value) -> String {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), Value::String(kind.as_str().into()));
    }
    v.to_string()
}

/// The progress line on stderr: rewritten in place on a terminal, one line per page otherwise.
pub struct Progress {
    tty: bool,
    started: std::time::Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn update(&self, phase: &str, imported: u64, unchanged: u64, failed: u64) {
        let done = imported + unchanged + failed;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "[{phase:<13}] {done:>8} records  imported {imported}, unchanged {unchanged}, failed {failed}  {:.0}/s",
            done as f64 / secs
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    pub fn finish(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// What a run did; `stopped_early` when `max_pages` ended it (the checkpoint is kept).
pub struct RunReport {
    pub tally: super::import::Tally,
    pub stopped_early: bool,
    pub resumed: bool,
    pub elapsed: Duration,
}

/// Reads `source` from the checkpoint on, writes every record through `importer`, prints each
/// failure on `out` (with its id and reason), keeps the checkpoint after each page and removes
/// it at the end. A dry run neither reads nor writes the checkpoint.
pub async fn run(
    importer: &mut super::import::Importer,
    source: &mut Source,
    checkpoint_path: &Path,
    max_pages: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<RunReport> {
    use super::import::Outcome;
    let key = format!("{} -> {}", source.describe(), importer.project);
    let dry_run = importer.dry_run;
    let mut at = if dry_run {
        Checkpoint::start(key)
    } else {
        Checkpoint::load(checkpoint_path, &key)?
    };
    let resumed = at.is_resumed();
    let progress = Progress::new();
    let mut tally = super::import::Tally::default();
    let mut pages = 0u64;
    let mut stopped_early = false;
    while let Some((page, next)) = source.next_page(&at).await? {
        for why in &page.unreadable {
            writeln!(out, "failed record ({why}): invalid_record")?;
            tally.add(
                Kind::User,
                &Outcome::Failed(super::import::FailReason::InvalidRecord, why.clone()),
            );
        }
        let mut phase = "file";
        // Runs of one kind, in order: a member never races its organization. A real run
        // writes a run's records several at a time; a dry run one by one (one transaction).
        let mut rest = page.records.as_slice();
        while let Some((kind, _)) = rest.first() {
            let kind = *kind;
            let len = rest.iter().take_while(|(k, _)| *k == kind).count();
            let (run, after) = rest.split_at(len);
            rest = after;
            let results = if dry_run {
                let mut v = Vec::with_capacity(run.len());
                for (_, obj) in run {
                    v.push(importer.import(kind, obj).await?);
                }
                v
            } else {
                let shared = &*importer;
                futures_util::stream::iter(
                    run.iter().map(|(_, obj)| shared.import_shared(kind, obj)),
                )
                .buffered(CONCURRENT_RECORDS)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
            };
            for (id, outcome) in results {
                if let Outcome::Failed(reason, detail) = &outcome {
                    if detail.is_empty() {
                        writeln!(out, "failed {} {id}: {}", kind.as_str(), reason.as_str())?;
                    } else {
                        writeln!(
                            out,
                            "failed {} {id}: {} ({detail})",
                            kind.as_str(),
                            reason.as_str()
                        )?;
                    }
                }
                tally.add(kind, &outcome);
            }
            if matches!(source, Source::Api(_)) {
                phase = match kind {
                    Kind::User => "users",
                    Kind::Organization => "organizations",
                    Kind::Member => "members",
                };
            }
        }
        at = next;
        if !dry_run {
            at.save(checkpoint_path)?;
        }
        let (i, u, f) = tally.totals();
        progress.update(phase, i, u, f);
        pages += 1;
        if max_pages.is_some_and(|m| pages >= m) {
            stopped_early = true;
            break;
        }
    }
    progress.finish();
    if !stopped_early && !dry_run {
        match std::fs::remove_file(checkpoint_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("removing the checkpoint"),
        }
    }
    Ok(RunReport {
        tally,
        stopped_early,
        resumed,
        elapsed: progress.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_line_is_a_typed_stytch_object_and_round_trips() {
        let user = json!({"user_id": "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6"});
        let line = to_line(Kind::User, &user);
        assert_eq!(parse_line(&line), Ok((Kind::User, user)));
        for bad in [
            "",
            "[]",
            "{\"user_id\": 1}",
            "{\"type\": \"session\"}",
            "{not json",
        ] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_checkpoint_of_another_source_starts_over_and_a_saved_one_resumes() {
        let dir = std::env::temp_dir().join(format!("otpd-ckpt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let fresh = Checkpoint::load(&path, "a").unwrap();
        assert!(!fresh.is_resumed());
        let mut at = fresh.clone();
        at.phase = Phase::Members;
        at.cursor = Some("next".into());
        at.org_batch = 2;
        at.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "a").unwrap(), at);
        assert!(!Checkpoint::load(&path, "b").unwrap().is_resumed());
        let mut end = at.clone();
        assert!(!advance(&mut end), "members is the last phase");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
