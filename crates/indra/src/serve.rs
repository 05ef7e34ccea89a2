//! `indra serve`

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use indra_server::config::Config;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "INDRA_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
}

pub async fn run(database_url: &str, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::from_env(args.addr, database_url.to_owned())?;
    indra_server::serve(config, |addr| {
        println!(
            "Indra is serving on http://{addr}/  (API: http://{addr}/api/v1, Ctrl-C stops it)"
        );
        tracing::info!(%addr, "listening");
    })
    .await
    .context("serving")?;
    Ok(ExitCode::SUCCESS)
}
