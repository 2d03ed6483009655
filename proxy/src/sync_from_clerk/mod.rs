//! `sync`: every user, organization and membership of Clerk's Backend API into the database
//! through `clerk_sync.backfill`, a page per transaction, so newer webhooks win over older API data
//! and a rerun changes nothing. A checkpoint after each page lets an interrupted sync resume.
//! `--reconcile`, after complete listings, removes what the tables hold that Clerk no longer has
//! (`clerk_sync.remove_unlisted`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clerk_sync_core::event::Object;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod backend_api;
mod listing;

use backend_api::{ApiError, BackendApi, List};
use listing::{Listing, Page};

fn page_size(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (listing::MIN_LIMIT..=backend_api::MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from {} to {}", listing::MIN_LIMIT, backend_api::MAX_LIMIT)),
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// The database with clerk_sync (a role allowed to run backfill, and for --reconcile
    /// unlisted_users and remove_unlisted)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Clerk's secret key (sk_…, the dashboard's API keys page); better in the environment than
    /// on a command line
    #[arg(long, env = "CLERK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// The Backend API
    #[arg(long, env = "CLERK_API_URL", default_value = backend_api::DEFAULT_URL)]
    pub api_url: String,
    /// Users per page (and per transaction)
    #[arg(long, default_value = "500", value_parser = page_size)]
    pub page_size: usize,
    /// After a complete listing, remove the users the table holds that Clerk no longer has
    #[arg(long)]
    pub reconcile: bool,
    /// Refuse to remove more users than this (a key of another instance would remove them all)
    #[arg(long, default_value = "100")]
    pub max_removals: usize,
    /// Print what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Where the progress of an unfinished sync is kept
    #[arg(long, default_value = ".clerk-sync-checkpoint.json")]
    pub checkpoint: PathBuf,
    /// Start over instead of resuming from the checkpoint
    #[arg(long)]
    pub restart: bool,
    /// Times a request is asked again after a 429, a 5xx or a broken connection
    #[arg(long, default_value = "8")]
    pub max_retries: u32,
    /// The first pause after a 5xx (doubling each time, at most 30 s); a 429 waits its Retry-After
    #[arg(long, default_value = "500")]
    pub first_retry_ms: u64,
}

/// Outcomes of `backfill` and `remove_unlisted`, added up.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    created: i64,
    updated: i64,
    unchanged: i64,
    /// `ignored`: the database has no table for them.
    ignored: i64,
}

impl Tally {
    fn add(&mut self, outcome: &str, n: i64) {
        match outcome {
            "created" => self.created += n,
            "updated" => self.updated += n,
            "ignored" => self.ignored += n,
            _ => self.unchanged += n,
        }
    }

    /// Adds what another page did (its `ignored` stays its own).
    fn absorb(&mut self, page: &Tally) {
        self.created += page.created;
        self.updated += page.updated;
        self.unchanged += page.unchanged;
    }

    fn line(&self) -> String {
        format!("created {}, updated {}, unchanged {}", self.created, self.updated, self.unchanged)
    }
}

/// What a checkpoint file holds: which sync it belongs to, when it began, and each list so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    sync: String,
    /// When the sync began (Unix ms, the database's clock): what `--reconcile` compares high-water
    /// marks with.
    began_at_ms: i64,
    lists: BTreeMap<String, Listing>,
}

impl Checkpoint {
    fn listing(&mut self, list: &List) -> &mut Listing {
        self.lists.entry(list.key()).or_default()
    }

    /// The ids listed in every list of this kind.
    fn listed(&self, noun: &str) -> Vec<String> {
        let lists = self.lists.iter().filter(|(key, _)| key.split(' ').next() == Some(noun));
        lists.flat_map(|(_, listing)| listing.listed.iter().cloned()).collect()
    }
}

/// Which sync a checkpoint belongs to: the API, the key and the database, hashed.
fn fingerprint(args: &SyncArgs) -> String {
    let digest = Sha256::digest(format!("{}\0{}\0{}", args.api_url, args.secret_key, args.database_url));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Opens without following a symbolic link at `path` itself: a link planted where the checkpoint
/// goes (in a shared directory, say) is refused instead of written through.
fn open_no_follow(options: &mut std::fs::OpenOptions, path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW).open(path)
}

fn load_checkpoint(path: &Path, sync: &str) -> Option<Checkpoint> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut open_no_follow(std::fs::OpenOptions::new().read(true), path).ok()?, &mut text)
        .ok()?;
    match serde_json::from_str::<Checkpoint>(&text) {
        Ok(checkpoint) if checkpoint.sync == sync => Some(checkpoint),
        _ => {
            eprintln!("{}: the checkpoint of another sync; starting over", path.display());
            None
        }
    }
}

fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), String> {
    let text = serde_json::to_string(checkpoint).map_err(|e| e.to_string())?;
    let partial = path.with_extension("partial");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // A leftover (or planted) partial file or link is removed, never written through: the new
        // one is created here, by this process, or not at all. rename() replaces a link at `path`
        // itself rather than following it.
        match std::fs::remove_file(&partial) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut file = open_no_follow(std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600), &partial)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&partial, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// A progress bar on a terminal (of users, then of the organizations' lists); a line per page
/// otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(total: Option<u64>, done: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} users {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_position(done);
        Progress { bar: Some(bar) }
    }

    fn page(&self, list: &List, offset: usize, objects: usize, listed: usize, tally: &Tally) {
        match &self.bar {
            Some(bar) => {
                if *list == List::Users {
                    bar.set_position(listed as u64);
                }
                bar.set_message(format!("{}: {listed} listed ({})", list.key(), tally.line()));
            }
            None => eprintln!(
                "{} page at offset {offset}: {objects}; {listed} listed so far ({})",
                list.key(),
                tally.line()
            ),
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn database_error(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// What listing one kind of object did, over all its lists.
#[derive(Debug, Default)]
struct Count {
    lists: usize,
    listed: usize,
    pages: u32,
    asked_again: u32,
    tally: Tally,
    seconds: f64,
}

/// How a list ended.
#[derive(Debug, PartialEq, Eq)]
enum Listed {
    Complete,
    /// The database has no table for these objects: not listed further.
    NoTable,
}

/// One sync: the API, the database, where the lists stand, and what was done.
struct Run {
    args: SyncArgs,
    api: BackendApi,
    db: tokio_postgres::Client,
    checkpoint: Checkpoint,
    progress: Progress,
    counts: BTreeMap<&'static str, Count>,
}

impl Run {
    /// Runs `sql` with `params` in a transaction of its own, rolled back in a dry run.
    async fn transaction(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, String> {
        let transaction = self.db.transaction().await.map_err(|e| e.to_string())?;
        let rows = transaction.query(sql, params).await.map_err(database_error)?;
        if self.args.dry_run {
            transaction.rollback().await.map_err(|e| e.to_string())?;
        } else {
            transaction.commit().await.map_err(|e| e.to_string())?;
        }
        Ok(rows)
    }

    /// Hands `objects` to `backfill`; its outcomes.
    async fn import(&mut self, objects: Vec<Value>) -> Result<Tally, String> {
        let objects = Value::Array(objects);
        let mut tally = Tally::default();
        for row in self.transaction("SELECT outcome, users FROM clerk_sync.backfill($1::jsonb)", &[&objects]).await? {
            tally.add(row.get(0), row.get(1));
        }
        Ok(tally)
    }

    /// Lists `list` to its end (from where a checkpoint left it), importing each page; an error
    /// when a page cannot be had or imported.
    async fn list(&mut self, list: &List) -> Result<Listed, String> {
        self.counts.entry(list.noun()).or_default().lists += 1;
        let started = Instant::now();
        let listed = self.list_pages(list).await;
        self.counts.entry(list.noun()).or_default().seconds += started.elapsed().as_secs_f64();
        listed
    }

    /// The page loop of `list`: a page asked, checked against the listing, imported, saved.
    async fn list_pages(&mut self, list: &List) -> Result<Listed, String> {
        let limit = self.args.page_size;
        while !self.checkpoint.listing(list).complete {
            let asked = self.checkpoint.listing(list).next_offset();
            let page = match self.api.page(list, asked, limit).await {
                Ok(page) => page,
                Err(ApiError::Status { status: 404, .. }) if *list == List::SubscriptionItems => {
                    self.progress
                        .say("subscription_items: not listed (Clerk Billing is not enabled for this instance)");
                    self.checkpoint.lists.remove(&list.key());
                    return Ok(Listed::NoTable);
                }
                Err(error) => return Err(error.to_string()),
            };
            let ids: Option<Vec<&str>> = page.iter().map(|object| object.get("id").and_then(Value::as_str)).collect();
            let ids = ids.ok_or_else(|| format!("{} page at offset {asked}: an object without an id", list.key()))?;
            let new = match self.checkpoint.listing(list).take(asked, &ids, limit) {
                Page::Moved => {
                    self.counts.entry(list.noun()).or_default().asked_again += 1;
                    self.progress.say(&format!(
                        "{}: moved (deleted meanwhile), asking again from further back than {asked}",
                        list.key()
                    ));
                    continue;
                }
                Page::Continues(new) => new,
            };
            let objects: Vec<Value> = new.iter().map(|&i| page[i].clone()).collect();
            let new = objects.len();
            let tally = if objects.is_empty() { Tally::default() } else { self.import(objects).await? };
            let listed = self.checkpoint.listing(list).listed.len();
            let count = self.counts.entry(list.noun()).or_default();
            count.pages += 1;
            count.listed += new;
            count.tally.absorb(&tally);
            let tally_so_far = count.tally;
            if tally.ignored > 0 && tally.created + tally.updated + tally.unchanged == 0 {
                self.checkpoint.lists.remove(&list.key());
                return Ok(Listed::NoTable);
            }
            if !self.args.dry_run {
                save_checkpoint(&self.args.checkpoint, &self.checkpoint)?;
            }
            self.progress.page(list, asked, page.len(), listed, &tally_so_far);
        }
        Ok(Listed::Complete)
    }

    /// Users, then organizations, then each organization's memberships, then subscription items;
    /// whether the database has an organizations table.
    async fn list_everything(&mut self) -> Result<bool, String> {
        self.list(&List::Users).await?;
        let organizations = self.list(&List::Organizations).await? != Listed::NoTable;
        if organizations {
            for organization in self.checkpoint.listed("organizations") {
                if self.list(&List::Memberships { organization }).await? == Listed::NoTable {
                    break;
                }
            }
        }
        self.list(&List::SubscriptionItems).await?;
        Ok(organizations)
    }

    fn print_counts(&self) {
        let would = if self.args.dry_run { "dry run, rolled back: " } else { "" };
        for noun in ["users", "organizations", "memberships"] {
            let Some(count) = self.counts.get(noun) else { continue };
            let of = if noun == "memberships" { format!(" of {} organizations", count.lists) } else { String::new() };
            println!(
                "listed {} {noun}{of} in {} pages ({} pages asked again) in {:.2} s: {:.0} {noun}/s",
                count.listed,
                count.pages,
                count.asked_again,
                count.seconds,
                count.listed as f64 / count.seconds.max(1e-9)
            );
            println!("{would}{noun}: {}", count.tally.line());
        }
        println!("{} retries", self.api.retries);
    }

    async fn unlisted(&self, function: &str, listed: &[String]) -> Result<Vec<String>, String> {
        let sql = format!("SELECT u FROM clerk_sync.{function}($1::text[]) AS u");
        let rows = self.db.query(&sql, &[&listed]).await.map_err(database_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn refuse_past(&self, removals: usize) -> Result<(), String> {
        if removals <= self.args.max_removals {
            return Ok(());
        }
        Err(format!(
            "reconcile refused: {removals} rows of the tables are not in Clerk's listings, more than --max-removals {}. \
             Check that CLERK_SECRET_KEY is this app's instance, then rerun with --max-removals {removals}",
            self.args.max_removals
        ))
    }

    /// Removes what the tables hold that the complete listings did not have. Each user and
    /// organization is first asked for by id, and only a 404 makes it a removal: one Clerk still
    /// has is imported instead (and an organization's memberships listed). A membership, which
    /// cannot be asked for by id, goes when its organization's complete listing lacks it.
    async fn reconcile(&mut self, organizations: bool) -> Result<(), String> {
        let users = self.unlisted("unlisted_users", &self.checkpoint.listed("users")).await?;
        let orgs = if organizations {
            self.unlisted("unlisted_organizations", &self.checkpoint.listed("organizations")).await?
        } else {
            Vec::new()
        };
        self.refuse_past(users.len() + orgs.len())?;
        let (mut gone_users, mut gone_organizations, mut found) = (Vec::new(), Vec::new(), Vec::new());
        let mut found_organizations = Vec::new();
        let candidates =
            users.iter().map(|id| (Object::User, id)).chain(orgs.iter().map(|id| (Object::Organization, id)));
        for (object, id) in candidates {
            let answer = match object {
                Object::Organization => self.api.organization(id).await,
                _ => self.api.user(id).await,
            };
            match answer.map_err(|e| format!("reconcile stopped, nothing removed: {e}"))? {
                None if object == Object::Organization => gone_organizations.push(id.clone()),
                None => gone_users.push(id.clone()),
                Some(found_object) => {
                    if object == Object::Organization {
                        found_organizations.push(id.clone());
                    }
                    found.push(found_object);
                }
            }
        }
        let found_count = found.len();
        let tally = if found.is_empty() { Tally::default() } else { self.import(found).await? };
        for organization in found_organizations {
            self.list(&List::Memberships { organization })
                .await
                .map_err(|e| format!("reconcile stopped, nothing removed: {e}"))?;
        }
        let gone_memberships = if organizations {
            self.unlisted("unlisted_memberships", &self.checkpoint.listed("memberships")).await?
        } else {
            Vec::new()
        };
        self.refuse_past(gone_users.len() + gone_organizations.len() + gone_memberships.len())?;
        let (mut removed, mut kept) = (Vec::new(), 0);
        if !(gone_users.is_empty() && gone_organizations.is_empty() && gone_memberships.is_empty()) {
            let began = self.checkpoint.began_at_ms;
            // Each list is of one kind, and the database is told which: it never guesses a row's
            // kind from its id.
            let removal = "SELECT clerk_id, outcome FROM clerk_sync.remove_unlisted($1::text[], $2::text[], \
                           $3::text[], pg_catalog.to_timestamp($4::bigint / 1000.0))";
            let arguments: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
                [&gone_users, &gone_organizations, &gone_memberships, &began];
            for row in self.transaction(removal, &arguments).await? {
                match row.get::<_, &str>(1) {
                    "deleted" => removed.push(row.get::<_, String>(0)),
                    _ => kept += 1,
                }
            }
        }
        let would = if self.args.dry_run { "would " } else { "" };
        println!(
            "reconcile: {would}remove {} ({}), keep {kept} changed since the listing began; \
             {found_count} found in Clerk after all ({would}import: {})",
            removed.len(),
            if removed.is_empty() { "none".to_owned() } else { removed.join(", ") },
            tally.line()
        );
        Ok(())
    }
}

/// Whether the secret key was given as a flag, where `ps` and the shell's history show it.
fn key_on_command_line() -> bool {
    std::env::args_os().any(|arg| arg.to_string_lossy().starts_with("--secret-key"))
}

pub async fn run(args: SyncArgs) -> Result<(), String> {
    if key_on_command_line() {
        eprintln!(
            "warning: --secret-key on the command line is visible to every user of this machine (ps); \
             set CLERK_SECRET_KEY in the environment or ./.env instead"
        );
    }
    let api =
        BackendApi::new(&args.api_url, &args.secret_key, args.max_retries, Duration::from_millis(args.first_retry_ms))?;
    let (db, connection) = tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("DATABASE_URL: {}", database_error(e)))?;
    tokio::spawn(connection);
    let installed = db
        .query_opt("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'clerk_sync'", &[])
        .await
        .map_err(database_error)?;
    if installed.is_none() {
        return Err("clerk_sync is not installed in this database".into());
    }
    let now_ms: i64 = db
        .query_one("SELECT (extract(epoch FROM pg_catalog.statement_timestamp()) * 1000)::bigint", &[])
        .await
        .map_err(database_error)?
        .get(0);

    let sync = fingerprint(&args);
    let resumed = if args.restart || args.dry_run { None } else { load_checkpoint(&args.checkpoint, &sync) };
    if let Some(checkpoint) = &resumed {
        let so_far: Vec<String> = ["users", "organizations", "memberships"]
            .iter()
            .map(|noun| format!("{} {noun}", checkpoint.listed(noun).len()))
            .collect();
        eprintln!(
            "resuming the sync that began {:.0} s ago: {} listed so far",
            (now_ms - checkpoint.began_at_ms) as f64 / 1000.0,
            so_far.join(", ")
        );
    }
    let checkpoint = resumed.unwrap_or(Checkpoint { sync, began_at_ms: now_ms, lists: BTreeMap::new() });
    let mut api = api;
    let total = api.users_count().await.ok();
    let progress = Progress::new(total, checkpoint.listed("users").len() as u64);
    let mut sync = Run { args, api, db, checkpoint, progress, counts: BTreeMap::new() };

    let listed = sync.list_everything().await;
    sync.progress.finish();
    sync.print_counts();
    let organizations = match listed {
        Ok(organizations) => organizations,
        Err(failure) => {
            let reconcile =
                if sync.args.reconcile { "; nothing removed (reconcile needs complete listings)" } else { "" };
            let resume = if sync.args.dry_run { "" } else { "; run it again to resume where it stopped" };
            return Err(format!("sync incomplete: {failure}{reconcile}{resume}"));
        }
    };
    // Complete: a rerun lists afresh, whatever the reconcile does.
    if !sync.args.dry_run {
        let _ = std::fs::remove_file(&sync.args.checkpoint);
    }
    if sync.args.reconcile {
        sync.reconcile(organizations).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sync: SyncArgs,
    }

    fn parse(flags: &[&str]) -> Result<SyncArgs, clap::Error> {
        let base = ["sync", "--database-url=postgres://u@127.0.0.1/db", "--secret-key=sk_test_x"];
        Cli::try_parse_from(base.iter().chain(flags)).map(|cli| cli.sync)
    }

    #[test]
    fn defaults_page_the_real_api_by_its_largest_page() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.api_url, "https://api.clerk.com/v1");
        assert_eq!((args.page_size, args.max_removals, args.max_retries), (500, 100, 8));
        assert!(!args.reconcile && !args.dry_run && !args.restart);
        assert!(parse(&["--page-size=501"]).is_err());
        assert!(parse(&["--page-size=1"]).is_err(), "a page must move past its overlap");
    }

    #[test]
    fn a_checkpoint_belongs_to_one_api_key_and_database() {
        let a = parse(&[]).unwrap();
        let b = SyncArgs { secret_key: "sk_test_y".into(), ..a.clone() };
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert!(!fingerprint(&a).contains("sk_test"), "no key in the file");

        let dir = std::env::temp_dir().join(format!("clerk-sync-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.json");
        let mut checkpoint = Checkpoint { sync: fingerprint(&a), began_at_ms: 7, lists: BTreeMap::new() };
        checkpoint.listing(&List::Users).take(0, &["user_a", "user_b"], 2);
        checkpoint.listing(&List::Memberships { organization: "org_1".into() }).take(0, &["orgmem_1"], 2);
        save_checkpoint(&path, &checkpoint).unwrap();
        let loaded = load_checkpoint(&path, &fingerprint(&a)).unwrap();
        assert_eq!(loaded, checkpoint);
        assert_eq!(loaded.listed("users"), ["user_a", "user_b"]);
        assert_eq!(loaded.listed("memberships"), ["orgmem_1"]);
        assert_eq!(load_checkpoint(&path, &fingerprint(&b)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_planted_link_is_never_written_through() {
        let a = parse(&[]).unwrap();
        let dir = std::env::temp_dir().join(format!("clerk-sync-links-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("checkpoint.json");
        std::os::unix::fs::symlink(&victim, path.with_extension("partial")).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert_eq!(load_checkpoint(&path, &fingerprint(&a)), None, "a link is not read as the checkpoint");
        let checkpoint = Checkpoint { sync: fingerprint(&a), began_at_ms: 7, lists: BTreeMap::new() };
        save_checkpoint(&path, &checkpoint).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "the link itself was replaced");
        assert_eq!(load_checkpoint(&path, &fingerprint(&a)), Some(checkpoint));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
