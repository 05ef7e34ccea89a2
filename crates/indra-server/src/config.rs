//! The server's configuration, from the environment. Secrets are wrapped so they never print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::platform::client_address::TrustedProxies;

/// A value that must never reach a log or a terminal: `Debug` and `Display` show `***`.
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: Secret<String>,
    /// HS256 key for access tokens; shared with Supabase Auth when tokens come from there.
    pub jwt_secret: Secret<Vec<u8>>,
    /// Where a generated JWT secret (and signing key) is kept between restarts.
    pub data_dir: PathBuf,
    /// The 32-byte Ed25519 seed of the key that signs clinical notes. Its public key is
    /// published (`GET /api/v1/signing-keys`) under an id derived from it.
    pub signing_key: Secret<[u8; 32]>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Every statement of a request is cancelled after this long.
    pub statement_timeout: Duration,
    pub max_connections: u32,
    /// Cookies get the Secure flag (set it when the server is reached over HTTPS).
    pub secure_cookies: bool,
    /// The load balancers whose `X-Forwarded-For` names the client (`INDRA_TRUSTED_PROXIES`);
    /// empty, the client is the TCP peer.
    pub trusted_proxies: TrustedProxies,
    pub log_format: LogFormat,
    /// The envelope of the 837P files the API exports.
    pub x12: X12Settings,
    /// The assistant's background worker, limits and prices.
    pub ai: AiConfig,
}

/// The assistant (`INDRA_AI_*`): whether this server works the queue of runs, how many at once,
/// when a run stops trying, and what each model's tokens cost. Which model an organization uses
/// is its admin's choice (`ai_settings`), not the deployment's.
#[derive(Debug, Clone, PartialEq)]
pub struct AiConfig {
    /// Work the queue inside `indra serve` (`INDRA_AI_WORKER`, default on; off when another
    /// process works it).
    pub worker: bool,
    /// Runs executed at once (`INDRA_AI_CONCURRENCY`, default 2).
    pub concurrency: usize,
    /// How often an idle worker looks for work (`INDRA_AI_POLL_MS`, default 500).
    pub poll_interval: Duration,
    /// `INDRA_AI_MAX_STEPS`, `INDRA_AI_MAX_TOKENS`, `INDRA_AI_MAX_SECONDS`.
    pub limits: indra_ai::runs::Limits,
    /// US dollars per million input/output tokens, by model as runs record it
    /// (`openai:gpt-4o-mini`). `INDRA_AI_PRICES` adds or replaces entries:
    /// `openai:gpt-4o-mini=0.15/0.60;anthropic:claude-sonnet-4-5=3/15`.
    pub prices: BTreeMap<String, indra_ai::runs::Price>,
}

impl Default for AiConfig {
    fn default() -> Self {
        let price = |input: f64, output: f64| indra_ai::runs::Price {
            input_per_million: input,
            output_per_million: output,
        };
        Self {
            worker: true,
            concurrency: 2,
            poll_interval: Duration::from_millis(500),
            limits: indra_ai::runs::Limits::default(),
            // List prices when this table was written; a deployment sets its own.
            prices: BTreeMap::from([
                ("rules".to_owned(), price(0.0, 0.0)),
                ("openai:gpt-4o-mini".to_owned(), price(0.15, 0.60)),
                ("openai:gpt-4o".to_owned(), price(2.50, 10.0)),
                ("anthropic:claude-sonnet-4-5".to_owned(), price(3.0, 15.0)),
                ("anthropic:claude-haiku-4-5".to_owned(), price(1.0, 5.0)),
            ]),
        }
    }
}

impl AiConfig {
    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        let worker = match std::env::var("INDRA_AI_WORKER").as_deref() {
            Err(_) | Ok("on" | "true" | "1") => true,
            Ok("off" | "false" | "0") => false,
            Ok(other) => anyhow::bail!("INDRA_AI_WORKER must be on or off, not {other:?}"),
        };
        let mut prices = defaults.prices;
        if let Ok(table) = std::env::var("INDRA_AI_PRICES") {
            prices.extend(parse_prices(&table)?);
        }
        Ok(Self {
            worker,
            concurrency: usize::try_from(env_u64("INDRA_AI_CONCURRENCY", 2)?.clamp(1, 64))?,
            poll_interval: Duration::from_millis(env_u64("INDRA_AI_POLL_MS", 500)?.max(10)),
            limits: indra_ai::runs::Limits {
                max_steps: u32::try_from(env_u64(
                    "INDRA_AI_MAX_STEPS",
                    u64::from(defaults.limits.max_steps),
                )?)?,
                max_tokens: env_u64("INDRA_AI_MAX_TOKENS", defaults.limits.max_tokens)?,
                max_seconds: env_u64("INDRA_AI_MAX_SECONDS", defaults.limits.max_seconds)?,
            },
            prices,
        })
    }

    /// The worker's settings.
    pub fn worker_settings(&self) -> indra_ai::runs::AiSettings {
        indra_ai::runs::AiSettings {
            limits: self.limits,
            prices: self.prices.clone(),
            concurrency: self.concurrency,
            poll_interval: self.poll_interval,
            ..indra_ai::runs::AiSettings::default()
        }
    }
}

/// `model=input/output;model=input/output` (dollars per million tokens).
fn parse_prices(table: &str) -> anyhow::Result<BTreeMap<String, indra_ai::runs::Price>> {
    let mut prices = BTreeMap::new();
    for entry in table.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(model, price)| {
            let (input, output) = price.split_once('/')?;
            let input: f64 = input.trim().parse().ok()?;
            let output: f64 = output.trim().parse().ok()?;
            (input >= 0.0 && output >= 0.0 && !model.trim().is_empty()).then(|| {
                (
                    model.trim().to_owned(),
                    indra_ai::runs::Price {
                        input_per_million: input,
                        output_per_million: output,
                    },
                )
            })
        });
        let (model, price) = parsed.with_context(|| {
            format!(
                "INDRA_AI_PRICES: {entry:?} is not model=input/output (dollars per million tokens)"
            )
        })?;
        prices.insert(model, price);
    }
    Ok(prices)
}

/// Who an 837P is from and to (`INDRA_X12_*`): the practice's submitter id at its
/// clearinghouse, the clearinghouse, and whether the files are test or production data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Settings {
    /// ISA06 / GS02 (`INDRA_X12_SUBMITTER_ID`).
    pub submitter_id: String,
    /// 1000A NM103 (`INDRA_X12_SUBMITTER_NAME`); the practice's name when unset.
    pub submitter_name: Option<String>,
    /// 1000A PER02 (`INDRA_X12_CONTACT_NAME`).
    pub contact_name: String,
    /// 1000A PER04, digits (`INDRA_X12_CONTACT_PHONE`); the practice's phone when unset.
    pub contact_phone: Option<String>,
    /// ISA08 / GS03 (`INDRA_X12_RECEIVER_ID`).
    pub receiver_id: String,
    /// 1000B NM103 (`INDRA_X12_RECEIVER_NAME`).
    pub receiver_name: String,
    /// ISA15 (`INDRA_X12_USAGE`, `T` or `P`): production data only when `P`.
    pub production: bool,
}

impl Default for X12Settings {
    /// Test data to a placeholder clearinghouse: a practice sets its own ids before sending.
    fn default() -> Self {
        Self {
            submitter_id: "INDRA".to_owned(),
            submitter_name: None,
            contact_name: "Billing Office".to_owned(),
            contact_phone: None,
            receiver_id: "CLEARINGHOUSE".to_owned(),
            receiver_name: "Clearinghouse".to_owned(),
            production: false,
        }
    }
}

impl X12Settings {
    /// The envelope as `indra_db::billing` completes it from the practice's record.
    pub fn envelope(&self) -> indra_db::billing::EnvelopeConfig {
        indra_db::billing::EnvelopeConfig {
            submitter_id: self.submitter_id.clone(),
            submitter_name: self.submitter_name.clone(),
            contact_name: self.contact_name.clone(),
            contact_phone: self.contact_phone.clone(),
            receiver_id: self.receiver_id.clone(),
            receiver_name: self.receiver_name.clone(),
            production: self.production,
        }
    }

    fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        let text = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let production = match text("INDRA_X12_USAGE").as_deref() {
            None | Some("T") => false,
            Some("P") => true,
            Some(other) => {
                anyhow::bail!("INDRA_X12_USAGE must be T (test) or P (production), not {other:?}")
            }
        };
        Ok(Self {
            submitter_id: text("INDRA_X12_SUBMITTER_ID").unwrap_or(defaults.submitter_id),
            submitter_name: text("INDRA_X12_SUBMITTER_NAME"),
            contact_name: text("INDRA_X12_CONTACT_NAME").unwrap_or(defaults.contact_name),
            contact_phone: text("INDRA_X12_CONTACT_PHONE"),
            receiver_id: text("INDRA_X12_RECEIVER_ID").unwrap_or(defaults.receiver_id),
            receiver_name: text("INDRA_X12_RECEIVER_NAME").unwrap_or(defaults.receiver_name),
            production,
        })
    }
}

impl Config {
    /// Reads `INDRA_*` variables and `DATABASE_URL`. When `INDRA_JWT_SECRET` is unset, a secret
    /// is generated once and kept in the data directory, so restarts keep sessions.
    pub fn from_env(addr: SocketAddr, database_url: String) -> anyhow::Result<Self> {
        let data_dir = std::env::var_os("INDRA_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".indra"));
        let jwt_secret = match std::env::var("INDRA_JWT_SECRET") {
            Ok(secret) if secret.len() >= 32 => secret.into_bytes(),
            Ok(_) => anyhow::bail!("INDRA_JWT_SECRET must be at least 32 characters"),
            Err(_) => local_jwt_secret(&data_dir)?,
        };
        let signing_key = match std::env::var("INDRA_SIGNING_KEY") {
            Ok(text) => parse_signing_key(&text)?,
            Err(_) => local_signing_key(&data_dir)?,
        };
        let secure_cookies =
            std::env::var("INDRA_SECURE_COOKIES").is_ok_and(|v| v == "true" || v == "1");
        let trusted_proxies =
            parse_trusted_proxies(std::env::var("INDRA_TRUSTED_PROXIES").ok().as_deref())?;
        let log_format = match std::env::var("INDRA_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") | Err(_) => LogFormat::Text,
            Ok(other) => anyhow::bail!("INDRA_LOG_FORMAT must be text or json, not {other:?}"),
        };
        Ok(Self {
            addr,
            database_url: Secret::new(database_url),
            jwt_secret: Secret::new(jwt_secret),
            data_dir,
            signing_key: Secret::new(signing_key),
            access_token_ttl: Duration::from_secs(env_u64("INDRA_ACCESS_TOKEN_SECONDS", 900)?),
            refresh_token_ttl: Duration::from_secs(env_u64(
                "INDRA_REFRESH_TOKEN_SECONDS",
                14 * 24 * 3600,
            )?),
            statement_timeout: Duration::from_millis(env_u64("INDRA_STATEMENT_TIMEOUT_MS", 5000)?),
            max_connections: env_u64("INDRA_DB_MAX_CONNECTIONS", 16)?.try_into()?,
            secure_cookies,
            trusted_proxies,
            log_format,
            x12: X12Settings::from_env()?,
            ai: AiConfig::from_env()?,
        })
    }

    /// A configuration for tests: a fixed secret, nothing read from the environment.
    pub fn for_tests(database_url: String, jwt_secret: &[u8]) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Secret::new(database_url),
            jwt_secret: Secret::new(jwt_secret.to_vec()),
            data_dir: std::env::temp_dir(),
            // Fixed for a given JWT secret, so a test can sign and check what it expects.
            signing_key: Secret::new(
                Sha256::new()
                    .chain_update(b"indra test signing key/")
                    .chain_update(jwt_secret)
                    .finalize()
                    .into(),
            ),
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(3600),
            statement_timeout: Duration::from_secs(5),
            max_connections: 8,
            secure_cookies: false,
            trusted_proxies: TrustedProxies::default(),
            log_format: LogFormat::Text,
            x12: X12Settings::default(),
            // Tests see a run finish quickly.
            ai: AiConfig {
                poll_interval: Duration::from_millis(50),
                ..AiConfig::default()
            },
        }
    }
}

/// `INDRA_TRUSTED_PROXIES`; unset or empty, nobody is trusted.
fn parse_trusted_proxies(setting: Option<&str>) -> anyhow::Result<TrustedProxies> {
    let Some(setting) = setting else {
        return Ok(TrustedProxies::default());
    };
    TrustedProxies::parse(setting).map_err(|bad| {
        anyhow::anyhow!(
            "INDRA_TRUSTED_PROXIES: {bad}. It lists the load balancers in front of the server, \
             as IP addresses or CIDR ranges separated by commas"
        )
    })
}

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name} must be a whole number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

/// The JWT secret of a local run: read from `<data_dir>/jwt-secret`, created (0600) when missing.
fn local_jwt_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read(&path)
        && existing.len() >= 32
    {
        return Ok(existing);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut secret = [0u8; 48];
    getrandom::fill(&mut secret)
        .map_err(|e| anyhow::anyhow!("no randomness for the JWT secret: {e}"))?;
    let encoded = hex::encode(secret).into_bytes();
    write_private(&path, &encoded)?;
    tracing::info!(path = %path.display(), "generated a JWT secret for this data directory");
    Ok(encoded)
}

/// `INDRA_SIGNING_KEY`: the 32-byte Ed25519 seed, as 64 hex digits or in base64.
fn parse_signing_key(text: &str) -> anyhow::Result<[u8; 32]> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .context("INDRA_SIGNING_KEY must be a 32-byte Ed25519 seed, as 64 hex digits or base64")
}

/// The note-signing key of a local run: read from `<data_dir>/signing-key` (hex), created
/// (0600) when missing. Losing it loses nothing already signed: its public key is published in
/// the database, and a new key is simply published beside it.
fn local_signing_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join("signing-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return parse_signing_key(&existing)
            .with_context(|| format!("reading the signing key in {}", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow::anyhow!("no randomness for the signing key: {e}"))?;
    write_private(&path, hex::encode(seed).as_bytes())?;
    tracing::info!(path = %path.display(), "generated a note-signing key for this data directory");
    Ok(seed)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let config = Config::for_tests(
            "postgres://u:hunter2@h/db".into(),
            b"0123456789abcdef0123456789abcdef",
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn signing_keys_are_read_in_hex_or_base64_and_kept_locally() {
        let seed = [7u8; 32];
        assert_eq!(parse_signing_key(&hex::encode(seed)).unwrap(), seed);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
        assert_eq!(parse_signing_key(&format!(" {b64}\n")).unwrap(), seed);
        assert!(parse_signing_key("too short").is_err());
        assert!(parse_signing_key(&hex::encode([1u8; 31])).is_err());

        let dir = std::env::temp_dir().join(format!("indra-key-test-{}", uuid::Uuid::new_v4()));
        let first = local_signing_key(&dir).unwrap();
        assert_eq!(local_signing_key(&dir).unwrap(), first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn price_tables_are_read_and_bad_entries_refused() {
        let prices = parse_prices("openai:gpt-x=0.5/1.5; anthropic:claude-y = 3 / 15 ;").unwrap();
        assert_eq!(prices.len(), 2);
        assert_eq!(prices["openai:gpt-x"].input_per_million, 0.5);
        assert_eq!(prices["anthropic:claude-y"].output_per_million, 15.0);
        assert!(parse_prices("openai:gpt-x=0.5").is_err());
        assert!(parse_prices("=1/2").is_err());
        assert!(parse_prices("m=-1/2").is_err());
        let settings = AiConfig::default().worker_settings();
        assert!(settings.cost_usd("openai:gpt-4o-mini", 1_000_000, 0) > 0.1);
        assert_eq!(settings.cost_usd("rules", 1_000_000, 1_000_000), 0.0);
    }

    #[test]
    fn trusted_proxies_default_to_nobody_and_bad_ones_name_the_setting() {
        assert!(parse_trusted_proxies(None).unwrap().is_empty());
        assert!(parse_trusted_proxies(Some("")).unwrap().is_empty());
        let trusted = parse_trusted_proxies(Some("10.0.0.5, fd00::/8")).unwrap();
        assert!(trusted.trusts("10.0.0.5".parse().unwrap()));
        let message = parse_trusted_proxies(Some("10.0.0.5, lb.internal"))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("INDRA_TRUSTED_PROXIES: \"lb.internal\" is not an IP address"),
            "{message}"
        );
    }

    #[test]
    fn a_local_secret_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("indra-config-test-{}", uuid::Uuid::new_v4()));
        let first = local_jwt_secret(&dir).unwrap();
        let second = local_jwt_secret(&dir).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 32);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
