//! The embedded default for `otpd dev`: a private PostgreSQL cluster under a data directory,
//! started (or reused) with the machine's `initdb`/`pg_ctl`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// PostgreSQL refuses to run as root; when we are root the cluster belongs to this user.
const UNPRIVILEGED_USERS: [&str; 2] = ["postgres", "nobody"];

fn find_tool(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().filter(|p| p.is_file()).with_context(|| {
        format!("`{name}` not found: install PostgreSQL server binaries, or set DATABASE_URL")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as an unprivileged user when we are root.
fn run_pg(tool: &Path, args: &[&str], owner: Option<&str>) -> anyhow::Result<std::process::Output> {
    let mut cmd = match owner {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(tool);
            c
        }
        None => Command::new(tool),
    };
    cmd.args(args)
        .current_dir("/")
        .output()
        .with_context(|| format!("running {}", tool.display()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn pick_owner() -> anyhow::Result<Option<&'static str>> {
    if !is_root() {
        return Ok(None);
    }
    for user in UNPRIVILEGED_USERS {
        let exists = Command::new("id")
            .arg(user)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if exists {
            return Ok(Some(user));
        }
    }
    bail!("running as root and no unprivileged user (postgres, nobody) exists to own the dev database")
}

fn chown(path: &Path, user: &str) -> anyhow::Result<()> {
    let ok = Command::new("chown")
        .args(["-R", user])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!("could not hand {} to user {user}", path.display());
    }
    Ok(())
}

/// Ensures the cluster under `dir/pg` exists and runs; returns a database URL for it.
pub fn ensure_cluster(dir: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let data = dir.join("pg");
    let port_file = dir.join("pg.port");
    let log = dir.join("pg.log");
    let owner = pick_owner()?;
    let initdb = find_tool("initdb")?;
    let pg_ctl = find_tool("pg_ctl")?;

    if !data.join("PG_VERSION").is_file() {
        std::fs::create_dir_all(&data)?;
        if let Some(user) = owner {
            chown(&dir, user)?;
        }
        let data_s = data.to_string_lossy().into_owned();
        let out = run_pg(
            &initdb,
            &[
                "-D",
                &data_s,
                "-U",
                "otpd",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            owner,
        )?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        std::fs::write(&port_file, free_port()?.to_string())?;
    }
    let port: u16 = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .context("the dev cluster's port file is missing; delete the data dir to start afresh")?;

    let data_s = data.to_string_lossy().into_owned();
    let running = run_pg(&pg_ctl, &["-D", &data_s, "status"], owner)?
        .status
        .success();
    if !running {
        if let Some(user) = owner {
            chown(&dir, user)?;
        }
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
            dir.display()
        );
        let log_s = log.to_string_lossy().into_owned();
        let out = run_pg(
            &pg_ctl,
            &["-D", &data_s, "-o", &opts, "-l", &log_s, "-w", "start"],
            owner,
        )?;
        if !out.status.success() {
            bail!(
                "starting PostgreSQL failed (see {}): {}",
                log.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(format!("postgres://otpd@127.0.0.1:{port}/postgres"))
}

/// Creates `name` in the cluster if it is missing and returns its URL.
pub async fn ensure_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url).await?;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(server_url.rsplit_once('/').map_or_else(
        || server_url.to_owned(),
        |(base, _)| format!("{base}/{name}"),
    ))
}
