//! The `otpd` binary: parse the command line and hand over to the library.

use clap::Parser;
use otpd::cli::{run, Cli, Failure};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => {}
        Err(Failure::Config(e)) => {
            eprintln!("otpd: {e}");
            std::process::exit(2);
        }
        Err(Failure::Other(e)) => {
            eprintln!("otpd: {}", format!("{e:#}").replace('\n', " "));
            std::process::exit(1);
        }
    }
}
