//! The PostgreSQL sink (`AUDIT_DATABASE_URL`), for many replicas writing one trail.
//!
//! Chain design: one chain per writer, all in one table. Each process start is a new chain
//! (a random `chain_id`); its lines are numbered by `pos` and its records by `seq`, exactly as
//! a file would hold them, and every record carries its `chain`. Writers never coordinate:
//! no global sequence to contend on, no lock, one `INSERT` per group commit. The cost: there
//! is no single order across replicas (`audit search` orders by time), and a chain that ends
//! without its final checkpoint (a killed pod, or rows removed by someone who got past the
//! grants and the trigger) is reported by `audit verify`, not proven complete.
//!
//! Connections use TLS as the URL's `sslmode` says (`tls.rs`).
//!
//! A write is one `INSERT ... SELECT FROM UNNEST(...)` in autocommit: it returns only when
//! committed. When it fails or times out its outcome is unknown, so the connection is dropped
//! and, on the next attempt, the chain's last lines are read back and continued from what was
//! committed.

use std::fmt;
use std::str::FromStr as _;
use std::time::Duration;

use tokio::time::timeout;
use tokio_postgres::{Client, Statement};

use super::sealer::{Sealed, Sealer};
use super::tls::RustlsConnect;

/// The schema this build writes, applied in order at start-up (and by `audit migrate`).
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_audit_log.sql"))];
/// Serialises migrations of replicas that start together.
const MIGRATION_LOCK: i64 = 0x5354_4f52_4147_4553;

const INSERT: &str = "INSERT INTO audit_log \
    (chain_id, pos, kind, time, seq, decision, client_id, action, bucket, object, request_id, line) \
    SELECT $1, p, k, t::timestamptz, s, d, c, a, b, o, r, l FROM UNNEST(\
    $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
    $9::text[], $10::text[], $11::text[], $12::text[]) AS u(p, k, t, s, d, c, a, b, o, r, l)";

/// A database URL: parsed once; shown only with its password replaced.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
    redacted: String,
    tls: RustlsConnect,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl DatabaseUrl {
    /// Parses `postgres://user:password@host:port/database?options`. The error never quotes
    /// the URL (it holds the password).
    pub fn parse(url: &str) -> Result<Self, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must be a postgres:// URL".into());
        }
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|_| format!("is not a valid PostgreSQL URL ({})", redact(url)))?;
        Ok(Self {
            config,
            redacted: redact(url),
            tls: RustlsConnect::new(None)?,
        })
    }

    /// Checks the server's certificate against the CAs in `ca_file` instead of the system's.
    pub fn with_ca_file(mut self, ca_file: Option<&std::path::Path>) -> Result<Self, String> {
        if ca_file.is_some() {
            self.tls = RustlsConnect::new(ca_file)?;
        }
        Ok(self)
    }

    /// Connects, within `limit`.
    pub async fn connect(&self, limit: Duration) -> Result<Client, String> {
        let mut config = self.config.clone();
        config.connect_timeout(limit);
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("storage-signer");
        let (client, connection) = timeout(limit, config.connect(self.tls.clone()))
            .await
            .map_err(|_| format!("{}: no connection within {limit:?}", self.redacted))?
            .map_err(|e| format!("{}: {}", self.redacted, describe(&e)))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = describe(&error), "audit database connection closed");
            }
        });
        Ok(client)
    }
}

/// `url` with the password (in the authority or as a `password=` option) replaced by `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, tail) = out.split_at(query + 1);
        let redacted: Vec<String> = tail
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

/// A database error's message, without the query's parameters.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Brings the schema to this build's version. Fast when it is current (one `SELECT`, which
/// a role with only `SELECT` and `INSERT` may run); otherwise needs a role that may create
/// tables (the owner).
pub async fn migrate(client: &mut Client) -> Result<i32, String> {
    let latest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if let Ok(row) = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM audit_schema_version",
            &[],
        )
        .await
        && row.get::<_, i32>(0) >= latest
    {
        return Ok(latest);
    }
    let failed = |e: tokio_postgres::Error| {
        format!(
            "cannot migrate the audit schema: {}; run `storage-signer audit migrate --database <owner URL>` or give a role that owns the schema",
            describe(&e)
        )
    };
    let transaction = client.transaction().await.map_err(failed)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS audit_schema_version \
             (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(failed)?;
    let current: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM audit_schema_version",
            &[],
        )
        .await
        .map_err(failed)?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        transaction.batch_execute(sql).await.map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO audit_schema_version (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(failed)?;
    }
    transaction.commit().await.map_err(failed)?;
    Ok(latest)
}

/// The writer's side of the database.
pub struct PgStorage {
    url: DatabaseUrl,
    limit: Duration,
    chain: String,
    next_pos: i64,
    connection: Option<(Client, Statement)>,
}

impl PgStorage {
    pub fn new(url: DatabaseUrl, limit: Duration, chain: String) -> Self {
        Self {
            url,
            limit,
            chain,
            next_pos: 1,
            connection: None,
        }
    }

    async fn connection(&mut self) -> Result<&(Client, Statement), String> {
        if self
            .connection
            .as_ref()
            .is_some_and(|(client, _)| client.is_closed())
        {
            self.connection = None;
        }
        if self.connection.is_none() {
            let mut client = self.url.connect(self.limit).await?;
            timeout(self.limit, migrate(&mut client))
                .await
                .map_err(|_| "migrating the audit schema timed out".to_owned())??;
            let insert = timeout(self.limit, client.prepare(INSERT))
                .await
                .map_err(|_| "preparing the insert timed out".to_owned())?
                .map_err(|e| describe(&e))?;
            self.connection = Some((client, insert));
        }
        Ok(self.connection.as_ref().expect("connected above"))
    }

    pub async fn append(&mut self, lines: &[Sealed]) -> Result<(), String> {
        let count = i64::try_from(lines.len()).unwrap_or(i64::MAX);
        let positions: Vec<i64> = (self.next_pos..self.next_pos + count).collect();
        let kinds: Vec<&str> = lines
            .iter()
            .map(|l| {
                if l.record.is_some() {
                    "record"
                } else {
                    "checkpoint"
                }
            })
            .collect();
        let times: Vec<&str> = lines.iter().map(|l| l.time.as_str()).collect();
        let meta = |field: fn(&super::sealer::RecordMeta) -> Option<&str>| -> Vec<Option<&str>> {
            lines
                .iter()
                .map(|l| l.record.as_ref().and_then(field))
                .collect()
        };
        let seqs: Vec<Option<i64>> = lines
            .iter()
            .map(|l| l.record.as_ref().and_then(|r| i64::try_from(r.seq).ok()))
            .collect();
        let decisions = meta(|r| Some(r.decision));
        let clients = meta(|r| r.client_id.as_deref());
        let actions = meta(|r| r.action);
        let buckets = meta(|r| r.bucket.as_deref());
        let objects = meta(|r| r.object.as_deref());
        let requests = meta(|r| Some(r.request_id.as_str()));
        let texts: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
        let chain = self.chain.clone();
        let limit = self.limit;
        let (client, insert) = self.connection().await?;
        let inserted = timeout(
            limit,
            client.execute(
                insert,
                &[
                    &chain, &positions, &kinds, &times, &seqs, &decisions, &clients, &actions,
                    &buckets, &objects, &requests, &texts,
                ],
            ),
        )
        .await;
        match inserted {
            Ok(Ok(_)) => {
                self.next_pos += count;
                Ok(())
            }
            Ok(Err(error)) => {
                self.connection = None;
                Err(describe(&error))
            }
            Err(_) => {
                self.connection = None;
                Err(format!("the commit did not finish within {limit:?}"))
            }
        }
    }

    /// The latest checkpoint of every other chain of the last seven days, as
    /// `chain:number:digest`. Best effort: a checkpoint without witnesses is still valid.
    pub async fn witness(&mut self) -> Vec<String> {
        let Some((client, _)) = &self.connection else {
            return Vec::new();
        };
        let rows = timeout(
            self.limit,
            client.query(
                "SELECT DISTINCT ON (chain_id) line FROM audit_log \
                 WHERE kind = 'checkpoint' AND chain_id <> $1 AND time > now() - interval '7 days' \
                 ORDER BY chain_id, pos DESC LIMIT 1000",
                &[&self.chain],
            ),
        )
        .await;
        let Ok(Ok(rows)) = rows else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(|row| super::checkpoint::open(row.get(0)).ok())
            .filter_map(|c| Some(format!("{}:{}:{}", c.chain?, c.number, c.digest)))
            .collect()
    }

    /// Between writes: connects if need be and asks the server a trivial question, so
    /// readiness follows the database without traffic.
    pub async fn check(&mut self) -> Result<(), String> {
        let limit = self.limit;
        let (client, _) = self.connection().await?;
        match timeout(limit, client.simple_query("SELECT 1")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                self.connection = None;
                Err(describe(&error))
            }
            Err(_) => {
                self.connection = None;
                Err(format!("the database did not answer within {limit:?}"))
            }
        }
    }

    /// The chain as committed: continues from its last checkpoint and the records after it.
    pub async fn resync(&mut self, current: &Sealer) -> Result<Sealer, String> {
        let chain = self.chain.clone();
        let limit = self.limit;
        let (client, _) = self.connection().await?;
        let rows = timeout(
            limit,
            client.query(
                "SELECT pos, line FROM audit_log WHERE chain_id = $1 AND pos >= \
                 (SELECT coalesce(max(pos), 0) FROM audit_log WHERE chain_id = $1 AND kind = 'checkpoint') \
                 ORDER BY pos",
                &[&chain],
            ),
        )
        .await
        .map_err(|_| "reading the chain back timed out".to_owned())?
        .map_err(|e| describe(&e))?;
        let Some(last) = rows.last() else {
            self.next_pos = 1;
            return Ok(Sealer::new(Some(chain), current.policy));
        };
        self.next_pos = last.get::<_, i64>(0) + 1;
        let lines: Vec<String> = rows.iter().map(|row| row.get(1)).collect();
        Sealer::continue_after(
            Some(chain),
            current.policy,
            lines.iter().map(String::as_str),
        )
    }
}

/// The chains in the database, oldest first.
pub async fn chains(client: &Client) -> Result<Vec<String>, String> {
    let rows = client
        .query(
            "SELECT chain_id FROM audit_log GROUP BY chain_id ORDER BY min(time), chain_id",
            &[],
        )
        .await
        .map_err(|e| describe(&e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Every line of `chain`, in order, with its `pos` (gaps show deleted rows).
pub async fn chain_lines(client: &Client, chain: &str) -> Result<Vec<(i64, String)>, String> {
    let rows = client
        .query(
            "SELECT pos, line FROM audit_log WHERE chain_id = $1 ORDER BY pos",
            &[&chain],
        )
        .await
        .map_err(|e| describe(&e))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Grants `role` what a writer needs and nothing more: `SELECT` and `INSERT`.
pub async fn grant_writer(client: &Client, role: &str) -> Result<(), String> {
    let valid = !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err("the role name must be lower-case letters, digits and _".into());
    }
    client
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT, INSERT ON audit_log TO {role}; \
             GRANT SELECT ON audit_schema_version TO {role};"
        ))
        .await
        .map_err(|e| describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_redacted_wherever_it_stands() {
        assert_eq!(
            redact("postgres://writer:s3cret@db:5432/audit?sslmode=disable"),
            "postgres://writer:***@db:5432/audit?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://writer@db/audit?password=s3cret&x=1"),
            "postgres://writer@db/audit?password=***&x=1"
        );
        assert_eq!(redact("postgres://db/audit"), "postgres://db/audit");
    }

    #[test]
    fn a_bad_url_is_refused_without_quoting_its_password() {
        let error = DatabaseUrl::parse("postgres://u:s3cret@db:notaport/x").unwrap_err();
        assert!(!error.contains("s3cret"), "{error}");
        let url = DatabaseUrl::parse("postgres://u:s3cret@db/x").unwrap();
        assert!(!format!("{url:?} {url}").contains("s3cret"));
    }
}
