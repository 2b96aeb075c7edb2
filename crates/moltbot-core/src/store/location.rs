//! Where the state store lives: the embedded SQLite file, or a PostgreSQL database named by a
//! URL (`store.url`, else `MOLTBOT_DATABASE_URL`).
//!
//! A PostgreSQL URL is the libpq form, `postgres://user:password@host:port/database?options`
//! (`postgresql://` too; see <https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS>),
//! read by tokio-postgres, with `sslmode` as libpq has it
//! (<https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION>):
//! `disable` (no TLS), `allow` and `prefer` (the default: TLS when the server offers it),
//! `require` (TLS or nothing), none of which check the server's certificate, and `verify-ca`
//! (the certificate chains to a trusted root) and `verify-full` (and names the host). Trusted
//! roots are Mozilla's (`webpki-roots`) plus the PEM certificates of `sslrootcert=FILE`; as in
//! libpq, `require` with an `sslrootcert` verifies like `verify-ca`. TLS is rustls (no OpenSSL).
//! The password never appears in [`StoreLocation`]'s `Display` or `Debug`, nor in any error from
//! this module.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Environment variable read when the config has no `store.url`.
pub const DATABASE_URL_ENV: &str = "MOLTBOT_DATABASE_URL";

/// How long connecting to PostgreSQL may take when the URL sets no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the state store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresUrl>),
}

/// A parsed PostgreSQL URL: what to connect to, and how (TLS roots), with the password kept
/// out of every printed form.
#[derive(Clone)]
pub struct PostgresUrl {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) root_cert: Option<PathBuf>,
    pub(crate) verify: TlsVerify,
    location: String,
}

/// How much of the server's certificate is checked when TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsVerify {
    /// Nothing (`sslmode` `allow`, `prefer`, `require`): encryption only, as libpq.
    Nothing,
    /// The chain to a trusted root (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

impl PartialEq for PostgresUrl {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.root_cert == other.root_cert
            && self.verify == other.verify
    }
}

impl Eq for PostgresUrl {}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("location", &self.location)
            .field("sslmode", &self.config.get_ssl_mode())
            .field("verify", &self.verify)
            .field("root_cert", &self.root_cert)
            .finish_non_exhaustive()
    }
}

/// Why a store URL was refused. The text never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// The text is not a URL at all.
    #[error("not a URL ({reason})")]
    NotAUrl {
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme is not one the store knows.
    #[error("unsupported scheme `{scheme}:`")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// An option in the URL was refused by the PostgreSQL driver.
    #[error("{reason}")]
    Invalid {
        /// What was wrong (an unknown option, a bad value).
        reason: String,
    },
}

impl StoreUrlError {
    /// How to fix it, for config errors.
    pub fn fix(&self) -> &'static str {
        "use postgres://USER:PASSWORD@HOST:5432/DATABASE (options such as ?sslmode=require \
         after it; percent-encode special characters in the password), sqlite:PATH, or remove \
         the setting to use the SQLite file in the state folder"
    }
}

impl StoreLocation {
    /// Parses a store URL: `postgres://...` or `postgresql://...` (PostgreSQL), or
    /// `sqlite:PATH` / `sqlite://PATH` (a SQLite file at PATH).
    pub fn parse(url: &str) -> Result<Self, StoreUrlError> {
        let url = url.trim();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreUrlError::Invalid {
                    reason: "`sqlite:` needs a file path after it".into(),
                });
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let parsed = url::Url::parse(url).map_err(|e| StoreUrlError::NotAUrl {
            reason: e.to_string(),
        })?;
        match parsed.scheme() {
            "postgres" | "postgresql" => Ok(Self::Postgres(Box::new(PostgresUrl::parse(parsed)?))),
            other => Err(StoreUrlError::UnsupportedScheme {
                scheme: other.to_owned(),
            }),
        }
    }

    /// Picks the store: `config_url` (`store.url`) if set, else `env_url`
    /// ([`DATABASE_URL_ENV`]), else the SQLite file `default_file`. Empty strings count as unset.
    pub fn choose(
        config_url: Option<&str>,
        env_url: Option<&str>,
        default_file: PathBuf,
    ) -> Result<Self, StoreUrlError> {
        fn given(u: Option<&str>) -> Option<&str> {
            u.map(str::trim).filter(|u| !u.is_empty())
        }
        match given(config_url).or_else(|| given(env_url)) {
            Some(url) => Self::parse(url),
            None => Ok(Self::Sqlite(default_file)),
        }
    }

    /// The backend's name: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Where the data is, without credentials: the file path, or `host:port/database`.
    pub fn location(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(pg) => pg.location.clone(),
        }
    }

    /// Secrets the location holds (the PostgreSQL password, as written and decoded), for log
    /// redaction.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Self::Sqlite(_) => Vec::new(),
            Self::Postgres(pg) => pg.secrets(),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.backend_name(), self.location())
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(pg) => f.debug_tuple("Postgres").field(pg).finish(),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = StoreUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl PostgresUrl {
    fn parse(mut url: url::Url) -> Result<Self, StoreUrlError> {
        let mut root_cert = None;
        let mut verify = TlsVerify::Nothing;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("sslrootcert", file) => root_cert = Some(PathBuf::from(file)),
                ("sslmode", mode @ ("verify-ca" | "verify-full")) => {
                    verify = if mode == "verify-ca" {
                        TlsVerify::Chain
                    } else {
                        TlsVerify::Full
                    };
                    kept.push(("sslmode".into(), "require".into()));
                }
                ("sslmode", "allow") => kept.push(("sslmode".into(), "prefer".into())),
                (key, value) => kept.push((key.to_owned(), value.to_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let mut config =
            tokio_postgres::Config::from_str(url.as_str()).map_err(|e| StoreUrlError::Invalid {
                reason: crate::error::chain(&e).to_string(),
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("moltbot");
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        if root_cert.is_some()
            && verify == TlsVerify::Nothing
            && config.get_ssl_mode() == tokio_postgres::config::SslMode::Require
        {
            verify = TlsVerify::Chain;
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres")
            .to_owned();
        Ok(Self {
            location: format!("{host}:{port}/{database}"),
            config,
            root_cert,
            verify,
        })
    }

    /// `host:port/database`.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn secrets(&self) -> Vec<String> {
        let Some(password) = self.config.get_password() else {
            return Vec::new();
        };
        let decoded = String::from_utf8_lossy(password).into_owned();
        let encoded: String = url::form_urlencoded::byte_serialize(password).collect();
        let mut out = vec![decoded];
        if encoded != out[0] {
            out.push(encoded);
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_name_host_port_and_database_without_the_password() {
        let loc = StoreLocation::parse("postgres://bot:s3cr%2Ft@db.example:6432/moltbot").unwrap();
        assert_eq!(loc.backend_name(), "postgres");
        assert_eq!(loc.location(), "db.example:6432/moltbot");
        assert_eq!(loc.to_string(), "postgres db.example:6432/moltbot");
        assert!(!format!("{loc:?}").contains("s3cr"), "{loc:?}");
        assert_eq!(loc.secrets(), ["s3cr/t", "s3cr%2Ft"]);

        let loc = StoreLocation::parse("postgresql://bot@localhost/").unwrap();
        assert_eq!(loc.location(), "localhost:5432/bot");
        assert!(loc.secrets().is_empty());
    }

    #[test]
    fn libpq_ssl_modes_and_the_root_certificate_are_understood() {
        use tokio_postgres::config::SslMode;
        let mode = |url: &str| match StoreLocation::parse(url).unwrap() {
            StoreLocation::Postgres(pg) => (pg.config.get_ssl_mode(), pg.verify),
            StoreLocation::Sqlite(_) => panic!("not postgres"),
        };
        use TlsVerify::*;
        assert_eq!(mode("postgres://h/d"), (SslMode::Prefer, Nothing));
        assert_eq!(
            mode("postgres://h/d?sslmode=disable"),
            (SslMode::Disable, Nothing)
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=allow"),
            (SslMode::Prefer, Nothing)
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=require"),
            (SslMode::Require, Nothing)
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=verify-ca"),
            (SslMode::Require, Chain)
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=verify-full"),
            (SslMode::Require, Full)
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=require&sslrootcert=/etc/ca.pem"),
            (SslMode::Require, Chain)
        );
        match StoreLocation::parse("postgres://h/d?sslmode=verify-full&sslrootcert=/etc/ca.pem") {
            Ok(StoreLocation::Postgres(pg)) => {
                assert_eq!(pg.root_cert, Some(PathBuf::from("/etc/ca.pem")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        let err = StoreLocation::parse("mysql://u:pw@h/d").unwrap_err();
        assert_eq!(err.to_string(), "unsupported scheme `mysql:`");
        let err = StoreLocation::parse("postgres://u:hunter2@h/d?sslmode=bogus").unwrap_err();
        assert!(err.to_string().contains("sslmode"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = StoreLocation::parse("postgres://u:hunter2@h/d?colour=blue").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(matches!(
            StoreLocation::parse("db.example:5432"),
            Err(StoreUrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            StoreLocation::parse("just words"),
            Err(StoreUrlError::NotAUrl { .. })
        ));
        assert!(StoreLocation::parse("sqlite:").is_err());
    }

    #[test]
    fn the_config_wins_over_the_environment_and_sqlite_is_the_default() {
        let file = PathBuf::from("/s/state/moltbot.sqlite");
        assert_eq!(
            StoreLocation::choose(None, None, file.clone()).unwrap(),
            StoreLocation::Sqlite(file.clone())
        );
        assert_eq!(
            StoreLocation::choose(Some(" "), Some(""), file.clone()).unwrap(),
            StoreLocation::Sqlite(file.clone())
        );
        let env = StoreLocation::choose(None, Some("postgres://e/env"), file.clone()).unwrap();
        assert_eq!(env.location(), "e:5432/env");
        let cfg = StoreLocation::choose(Some("postgres://c/cfg"), Some("postgres://e/env"), file)
            .unwrap();
        assert_eq!(cfg.location(), "c:5432/cfg");
        assert_eq!(
            StoreLocation::parse("sqlite:///tmp/x.sqlite").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("/tmp/x.sqlite"))
        );
        assert_eq!(
            StoreLocation::parse("sqlite:rel/x.sqlite").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("rel/x.sqlite"))
        );
    }
}
