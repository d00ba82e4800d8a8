//! `storage-signer audit ...`: verify, search, public-key, migrate.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::checkpoint::{CheckpointKey, PublicKey};
use super::postgres::{self, DatabaseUrl};
use super::search::{self, Filter};
use super::verify::{self, Report, VerifyOptions};
use crate::key::ServiceAccountKey;

/// Exit status: the trail was read and is whole, but `--strict` cannot prove it complete.
const EXIT_INCOMPLETE: u8 = 3;
/// Exit status: the command could not run (unreadable file, unreachable database, bad flag).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check a trail's hash chain and signed checkpoints; exits 1 naming the first line where
    /// it breaks.
    Verify(VerifyArgs),
    /// Print the records that match (JSON lines; a table on a terminal).
    Search(SearchArgs),
    /// Print the public key that checks the checkpoints signed with a key file.
    PublicKey(PublicKeyArgs),
    /// Create or update the audit schema in PostgreSQL (with a role that owns it).
    Migrate(MigrateArgs),
}

/// Where the trail is: a file, or the database of every replica.
#[derive(Args)]
pub struct TrailArgs {
    /// The audit file (`-` for standard input); or use --database.
    #[arg(required_unless_present = "database")]
    pub file: Option<String>,
    /// The PostgreSQL database of the trail (every chain in it) instead of a file.
    #[arg(
        long,
        value_name = "URL",
        env = "AUDIT_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// PEM file of the CA(s) of the database's certificate [default: the system's roots].
    #[arg(long, value_name = "FILE", env = "AUDIT_DATABASE_CA_FILE")]
    pub ca_file: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub trail: TrailArgs,
    /// A public key that may have signed checkpoints: PEM (PUBLIC KEY, RSA PUBLIC KEY,
    /// CERTIFICATE) or Google's JSON of certificates. Repeat for rotated keys.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_keys: Vec<String>,
    /// A head hash saved earlier: the trail must contain it (records cut off the end).
    #[arg(long, value_name = "HASH", conflicts_with = "database")]
    pub head: Option<String>,
    /// The file continues a chain that ended with this hash (after rotation).
    #[arg(long, value_name = "HASH", conflicts_with = "database")]
    pub after: Option<String>,
    /// Skip JSON lines that are not audit records (a captured stdout with request logs).
    #[arg(long)]
    pub mixed: bool,
    /// Also require completeness: signatures checked, no run that ended without its final
    /// checkpoint, and a final checkpoint at the end or a fresh one (exit 3 otherwise).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub trail: TrailArgs,
    /// The client id.
    #[arg(long)]
    pub client: Option<String>,
    /// issued, denied, invalid, unauthenticated, failed, validated, suppressed or `audit_resumed`.
    #[arg(long)]
    pub decision: Option<String>,
    /// GET, HEAD, PUT, DELETE, RESUMABLE or POST.
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long)]
    pub bucket: Option<String>,
    /// Objects whose name starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// `/bucket/prefix/**`: the bucket and the prefix at once.
    #[arg(long, value_name = "PATTERN")]
    pub path: Option<String>,
    /// From this time on (2026-11-01 or RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// JSON lines even on a terminal.
    #[arg(long, conflicts_with = "table")]
    pub json: bool,
    /// A table even when not on a terminal.
    #[arg(long)]
    pub table: bool,
}

#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// A service-account JSON key file (the service's, or the dedicated audit key).
    #[arg(long, value_name = "FILE", env = "AUDIT_SIGNING_KEY_PATH")]
    pub key: String,
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The database, as a role that may create tables.
    #[arg(
        long,
        value_name = "URL",
        env = "AUDIT_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: String,
    /// PEM file of the CA(s) of the database's certificate [default: the system's roots].
    #[arg(long, value_name = "FILE", env = "AUDIT_DATABASE_CA_FILE")]
    pub ca_file: Option<String>,
    /// Also grant this (existing) role what the service needs: SELECT and INSERT, no more.
    #[arg(long, value_name = "ROLE")]
    pub grant_writer: Option<String>,
}

// By hand: a database URL may carry a password, and Debug output must not.
impl std::fmt::Debug for TrailArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrailArgs")
            .field("file", &self.file)
            .field("database", &self.database.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl std::fmt::Debug for MigrateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateArgs")
            .field("database", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("grant_writer", &self.grant_writer)
            .finish()
    }
}

pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(args) => verify_command(&args),
        AuditCommand::Search(args) => search_command(&args),
        AuditCommand::PublicKey(args) => public_key(&args),
        AuditCommand::Migrate(args) => migrate(&args),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("storage-signer: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn read_text(file: &str) -> Result<String, String> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read(file).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    text.map_err(|e| format!("cannot read {file}: {e}"))
}

/// The lines of a file; a last line without its newline (a partly written record) stays.
fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

fn verify_command(args: &VerifyArgs) -> ExitCode {
    let mut keys = Vec::new();
    for path in &args.public_keys {
        match read_text(path).and_then(|text| PublicKey::parse_all(&text)) {
            Ok(parsed) => keys.extend(parsed),
            Err(problem) => return fail(&format!("--public-key {path}: {problem}")),
        }
    }
    let options = VerifyOptions {
        after: args.after.clone(),
        head: args.head.clone(),
        mixed: args.mixed,
        keys,
        chain: None,
    };
    let reports = match (&args.trail.database, &args.trail.file) {
        (Some(url), _) => match verify_database(url, args.trail.ca_file.as_deref(), &options) {
            Ok(reports) => reports,
            Err(code) => return code,
        },
        (None, Some(file)) => {
            let text = match read_text(file) {
                Ok(text) => text,
                Err(problem) => return fail(&problem),
            };
            match verify::verify(lines(&text), &options) {
                Ok(report) => vec![(None, report)],
                Err(broken) => {
                    eprintln!("{file}: chain broken at {broken}");
                    let line = lines(&text).get(broken.line.saturating_sub(1)).copied();
                    if !args.mixed && line.is_some_and(|line| !line.contains("\"log\":\"audit")) {
                        eprintln!(
                            "hint: a captured stdout mixes request logs with the audit records; check it with --mixed"
                        );
                    }
                    return ExitCode::FAILURE;
                }
            }
        }
        (None, None) => return fail("give an audit file or --database"),
    };
    let records: u64 = reports.iter().map(|(_, r)| r.records).sum();
    if let [(None, report)] = reports.as_slice() {
        println!("ok: {records} records, head {}", report.head.hash);
    } else {
        println!("ok: {records} records in {} chains", reports.len());
    }
    let now = OffsetDateTime::now_utc();
    let mut incomplete = Vec::new();
    for (chain, report) in &reports {
        let name = chain
            .as_deref()
            .map(|c| format!("chain {c}: "))
            .unwrap_or_default();
        describe(&name, report);
        incomplete.extend(
            report
                .incompleteness(now)
                .into_iter()
                .map(|p| format!("{name}{p}")),
        );
    }
    if args.strict && !incomplete.is_empty() {
        for problem in &incomplete {
            eprintln!("incomplete: {problem}");
        }
        return ExitCode::from(EXIT_INCOMPLETE);
    }
    ExitCode::SUCCESS
}

fn describe(name: &str, report: &Report) {
    if let Some(_chain) = name.strip_prefix("chain ") {
        println!(
            "{name}{} records, head {}",
            report.records, report.head.hash
        );
    }
    let signatures = if report.signatures_checked {
        "signatures verified"
    } else {
        "signatures NOT checked (pass --public-key)"
    };
    println!("{name}checkpoints: {}, {signatures}", report.checkpoints);
    if report.unsigned_tail > 0 {
        println!(
            "{name}unsigned tail: {} record(s) after the last checkpoint",
            report.unsigned_tail
        );
    }
    for seq in &report.unclean_ends {
        println!(
            "{name}warning: a run ended before record {seq} without its final checkpoint (a crash, or records cut off)"
        );
    }
}

/// Verifies every chain of the database.
fn verify_database(
    url: &str,
    ca_file: Option<&str>,
    options: &VerifyOptions,
) -> Result<Vec<(Option<String>, Report)>, ExitCode> {
    let url = database_url(url, ca_file).map_err(|p| fail(&p))?;
    runtime().block_on(async {
        let client = url
            .connect(std::time::Duration::from_secs(10))
            .await
            .map_err(|p| fail(&p))?;
        let chains = postgres::chains(&client).await.map_err(|p| fail(&p))?;
        let mut reports = Vec::new();
        for chain in chains {
            let rows = postgres::chain_lines(&client, &chain)
                .await
                .map_err(|p| fail(&p))?;
            if let Some((index, (pos, _))) = rows
                .iter()
                .enumerate()
                .find(|(index, (pos, _))| *pos != i64::try_from(*index).unwrap_or(0) + 1)
            {
                eprintln!(
                    "chain {chain}: broken at pos {pos}: line {} is missing (rows were deleted)",
                    index + 1
                );
                return Err(ExitCode::FAILURE);
            }
            let options = VerifyOptions {
                chain: Some(chain.clone()),
                ..options.clone()
            };
            match verify::verify(rows.iter().map(|(_, line)| line.as_str()), &options) {
                Ok(report) => reports.push((Some(chain), report)),
                Err(broken) => {
                    eprintln!("chain {chain}: chain broken at {broken}");
                    return Err(ExitCode::FAILURE);
                }
            }
        }
        let chains = reports
            .iter()
            .map(|(chain, report)| (chain.as_deref().unwrap_or_default(), report));
        if let Err(problem) = verify::check_witnesses(chains) {
            eprintln!("{problem}");
            return Err(ExitCode::FAILURE);
        }
        Ok(reports)
    })
}

fn search_command(args: &SearchArgs) -> ExitCode {
    let filter = match filter(args) {
        Ok(filter) => filter,
        Err(problem) => return fail(&problem),
    };
    let lines: Vec<String> = match (&args.trail.database, &args.trail.file) {
        (Some(url), _) => match search_database(url, args.trail.ca_file.as_deref(), &filter) {
            Ok(lines) => lines,
            Err(problem) => return fail(&problem),
        },
        (None, Some(file)) => match read_text(file) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(problem) => return fail(&problem),
        },
        (None, None) => return fail("give an audit file or --database"),
    };
    let matching: Vec<(String, Map<String, Value>)> = lines
        .into_iter()
        .filter_map(|line| {
            let Ok(Value::Object(record)) = serde_json::from_str::<Value>(&line) else {
                return None;
            };
            (record.get("log").and_then(Value::as_str) == Some("audit") && filter.matches(&record))
                .then_some((line, record))
        })
        .collect();
    let as_table = args.table || (!args.json && std::io::stdout().is_terminal());
    let mut out = std::io::stdout().lock();
    let written = if as_table {
        let records: Vec<Map<String, Value>> = matching.into_iter().map(|(_, r)| r).collect();
        out.write_all(search::table(&records).as_bytes())
    } else {
        matching
            .iter()
            .try_for_each(|(line, _)| writeln!(out, "{line}"))
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write: {error}")),
    }
}

fn filter(args: &SearchArgs) -> Result<Filter, String> {
    let time = |value: &Option<String>| value.as_deref().map(search::parse_time).transpose();
    let mut filter = Filter {
        client: args.client.clone(),
        decision: args.decision.clone(),
        action: args.action.clone(),
        bucket: args.bucket.clone(),
        object_prefix: args.prefix.clone(),
        since: time(&args.since)?,
        until: time(&args.until)?,
    };
    if let Some(path) = &args.path {
        if args.bucket.is_some() || args.prefix.is_some() {
            return Err("--path sets the bucket and prefix: give it alone".into());
        }
        filter = filter.with_path(path)?;
    }
    Ok(filter)
}

fn search_database(
    url: &str,
    ca_file: Option<&str>,
    filter: &Filter,
) -> Result<Vec<String>, String> {
    let url = database_url(url, ca_file)?;
    runtime().block_on(async {
        let client = url.connect(std::time::Duration::from_secs(10)).await?;
        let (condition, params) = filter.sql();
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let rows = client
            .query(
                &format!(
                    "SELECT line FROM audit_log WHERE {condition} ORDER BY time, chain_id, pos"
                ),
                &params,
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    })
}

fn database_url(url: &str, ca_file: Option<&str>) -> Result<DatabaseUrl, String> {
    DatabaseUrl::parse(url)
        .and_then(|url| url.with_ca_file(ca_file.map(std::path::Path::new)))
        .map_err(|p| format!("--database: {p}"))
}

fn public_key(args: &PublicKeyArgs) -> ExitCode {
    let key = std::fs::read(&args.key)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("cannot read {}: {e}", args.key))
        .and_then(|bytes| {
            ServiceAccountKey::from_json(&bytes).map_err(|e| format!("{}: {e}", args.key))
        });
    match key {
        Ok(key) => {
            let key = CheckpointKey::Local(Arc::new(key));
            print!("{}", key.public_key_pem().unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(problem) => fail(&problem),
    }
}

fn migrate(args: &MigrateArgs) -> ExitCode {
    let url = match database_url(&args.database, args.ca_file.as_deref()) {
        Ok(url) => url,
        Err(problem) => return fail(&problem),
    };
    let outcome: Result<i32, String> = runtime().block_on(async {
        let mut client = url.connect(std::time::Duration::from_secs(10)).await?;
        let version = postgres::migrate(&mut client).await?;
        if let Some(role) = &args.grant_writer {
            postgres::grant_writer(&client, role).await?;
        }
        Ok(version)
    });
    match outcome {
        Ok(version) => {
            println!("audit schema at version {version} in {url}");
            ExitCode::SUCCESS
        }
        Err(problem) => fail(&problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "postgres://owner:s3cret-pass@db.internal/audit";

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let trail = TrailArgs {
            file: None,
            database: Some(URL.into()),
            ca_file: None,
        };
        let migrate = MigrateArgs {
            database: URL.into(),
            ca_file: None,
            grant_writer: Some("signer".into()),
        };
        for shown in [format!("{trail:?}"), format!("{migrate:?}")] {
            assert!(!shown.contains("s3cret-pass"), "{shown}");
            assert!(!shown.contains("db.internal"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
