//! `sync`: every user of Clerk's Backend API into the database through `clerk_sync.backfill`, a
//! page per transaction, so newer webhooks win over older API data and a rerun changes nothing.
//! A checkpoint after each page lets an interrupted sync resume. `--reconcile`, after a complete
//! listing, removes the users the table holds that Clerk no longer has (`clerk_sync.remove_unlisted`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend_api::{self, BackendApi};
use crate::listing::{self, Listing, Page};

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
}

impl Tally {
    fn add(&mut self, outcome: &str, users: i64) {
        match outcome {
            "created" => self.created += users,
            "updated" => self.updated += users,
            _ => self.unchanged += users,
        }
    }

    fn line(&self) -> String {
        format!("created {}, updated {}, unchanged {}", self.created, self.updated, self.unchanged)
    }
}

/// What a checkpoint file holds: the listing, and which sync it belongs to.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    sync: String,
    listing: Listing,
}

/// Which sync a checkpoint belongs to: the API, the key and the database, hashed.
fn fingerprint(args: &SyncArgs) -> String {
    let digest = Sha256::digest(format!("{}\0{}\0{}", args.api_url, args.secret_key, args.database_url));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn load_checkpoint(path: &Path, sync: &str) -> Option<Listing> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<Checkpoint>(&text) {
        Ok(checkpoint) if checkpoint.sync == sync => Some(checkpoint.listing),
        _ => {
            eprintln!("{}: the checkpoint of another sync; starting over", path.display());
            None
        }
    }
}

fn save_checkpoint(path: &Path, sync: &str, listing: &Listing) -> Result<(), String> {
    let text = serde_json::to_string(&Checkpoint { sync: sync.to_owned(), listing: listing.clone() })
        .map_err(|e| e.to_string())?;
    let partial = path.with_extension("partial");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&partial, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// A progress bar on a terminal; a line per page otherwise.
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

    fn page(&self, offset: usize, users: usize, listed: usize, tally: &Tally) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(listed as u64);
                bar.set_message(tally.line());
            }
            None => eprintln!("page at offset {offset}: {users} users; {listed} listed so far ({})", tally.line()),
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

/// Runs `sql` with `params` in a transaction of its own, rolled back when `dry_run`.
async fn transaction(
    db: &mut tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    dry_run: bool,
) -> Result<Vec<tokio_postgres::Row>, String> {
    let transaction = db.transaction().await.map_err(|e| e.to_string())?;
    let rows = transaction.query(sql, params).await.map_err(database_error)?;
    if dry_run {
        transaction.rollback().await.map_err(|e| e.to_string())?;
    } else {
        transaction.commit().await.map_err(|e| e.to_string())?;
    }
    Ok(rows)
}

fn database_error(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

async fn import(
    db: &mut tokio_postgres::Client,
    users: Vec<Value>,
    dry_run: bool,
    tally: &mut Tally,
) -> Result<(), String> {
    let users = Value::Array(users);
    let backfill = "SELECT outcome, users FROM clerk_sync.backfill($1::jsonb)";
    for row in transaction(db, backfill, &[&users], dry_run).await? {
        tally.add(row.get(0), row.get(1));
    }
    Ok(())
}

pub async fn run(args: SyncArgs) -> Result<(), String> {
    let would = if args.dry_run { "dry run, rolled back: " } else { "" };
    let mut api =
        BackendApi::new(&args.api_url, &args.secret_key, args.max_retries, Duration::from_millis(args.first_retry_ms))?;
    let (mut db, connection) = tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls)
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
    if let Some(listing) = &resumed {
        eprintln!(
            "resuming the sync that began {:.0} s ago: {} users listed, from offset {}",
            (now_ms - listing.began_at_ms) as f64 / 1000.0,
            listing.listed.len(),
            listing.offset
        );
    }
    let mut listing = resumed.unwrap_or_else(|| Listing::new(now_ms));
    let total = api.users_count().await.ok();
    let progress = Progress::new(total, listing.listed.len() as u64);

    let started = Instant::now();
    let (mut tally, mut pages, mut asked_again) = (Tally::default(), 0u32, 0u32);
    let listed_before = listing.listed.len();
    let mut failure = None;
    while !listing.complete {
        let asked = listing.next_offset();
        let page = match api.users_page(asked, args.page_size).await {
            Ok(page) => page,
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        };
        let ids: Option<Vec<&str>> = page.iter().map(|user| user.get("id").and_then(Value::as_str)).collect();
        let Some(ids) = ids else {
            failure = Some(format!("the page at offset {asked} has a user without an id"));
            break;
        };
        let new = match listing.take(asked, &ids, args.page_size) {
            Page::Moved => {
                asked_again += 1;
                progress.say(&format!("users moved (deleted meanwhile): asking again from further back than {asked}"));
                continue;
            }
            Page::Continues(new) => new,
        };
        let users: Vec<Value> = new.iter().map(|&i| page[i].clone()).collect();
        if !users.is_empty() {
            import(&mut db, users, args.dry_run, &mut tally).await?;
        }
        pages += 1;
        if !args.dry_run {
            save_checkpoint(&args.checkpoint, &sync, &listing)?;
        }
        progress.page(asked, page.len(), listing.listed.len(), &tally);
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let users = listing.listed.len() - listed_before;
    println!(
        "listed {users} users in {pages} pages ({} retries, {asked_again} pages asked again) in {seconds:.2} s: {:.0} users/s",
        api.retries,
        users as f64 / seconds.max(1e-9)
    );
    println!("{would}{}", tally.line());
    if let Some(failure) = failure {
        let reconcile = if args.reconcile { "; nothing removed (reconcile needs a complete listing)" } else { "" };
        let resume = if args.dry_run {
            String::new()
        } else {
            format!("; run it again to resume from offset {}", listing.offset)
        };
        return Err(format!("sync incomplete: {failure}{reconcile}{resume}"));
    }
    // Complete: a rerun lists afresh, whatever the reconcile does.
    if !args.dry_run {
        let _ = std::fs::remove_file(&args.checkpoint);
    }
    if args.reconcile {
        reconcile(&args, &mut api, &mut db, &listing).await?;
    }
    Ok(())
}

/// Removes the users the table holds that the complete `listing` did not have, each confirmed
/// gone by asking for it; one Clerk still has (the listing missed it) is imported instead.
async fn reconcile(
    args: &SyncArgs,
    api: &mut BackendApi,
    db: &mut tokio_postgres::Client,
    listing: &Listing,
) -> Result<(), String> {
    let listed: Vec<&str> = listing.listed.iter().map(String::as_str).collect();
    let candidates: Vec<String> = db
        .query("SELECT u FROM clerk_sync.unlisted_users($1::text[]) AS u", &[&listed])
        .await
        .map_err(database_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if candidates.len() > args.max_removals {
        return Err(format!(
            "reconcile refused: {} users of the table are not in Clerk's listing, more than --max-removals {}. \
             Check that CLERK_SECRET_KEY is this app's instance, then rerun with --max-removals {}",
            candidates.len(),
            args.max_removals,
            candidates.len()
        ));
    }
    let (mut gone, mut found) = (Vec::new(), Vec::new());
    for id in &candidates {
        match api.user(id).await {
            Ok(None) => gone.push(id.clone()),
            Ok(Some(user)) => found.push(user),
            Err(error) => return Err(format!("reconcile stopped, nothing removed: {error}")),
        }
    }
    let mut tally = Tally::default();
    let found_count = found.len();
    if !found.is_empty() {
        import(db, found, args.dry_run, &mut tally).await?;
    }
    let began = listing.began_at_ms;
    let removal = "SELECT clerk_id, outcome FROM clerk_sync.remove_unlisted($1::text[], \
                   pg_catalog.to_timestamp($2::bigint / 1000.0))";
    let (mut removed, mut kept) = (Vec::new(), 0);
    if !gone.is_empty() {
        for row in transaction(db, removal, &[&gone, &began], args.dry_run).await? {
            match row.get::<_, &str>(1) {
                "deleted" => removed.push(row.get::<_, String>(0)),
                _ => kept += 1,
            }
        }
    }
    let would = if args.dry_run { "would " } else { "" };
    println!(
        "reconcile: {would}remove {} ({}), keep {kept} changed since the listing began; \
         {found_count} found in Clerk after all ({would}import: {})",
        removed.len(),
        if removed.is_empty() { "none".to_owned() } else { removed.join(", ") },
        tally.line()
    );
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
        let mut listing = Listing::new(7);
        listing.take(0, &["user_a", "user_b"], 2);
        save_checkpoint(&path, &fingerprint(&a), &listing).unwrap();
        assert_eq!(load_checkpoint(&path, &fingerprint(&a)), Some(listing));
        assert_eq!(load_checkpoint(&path, &fingerprint(&b)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
