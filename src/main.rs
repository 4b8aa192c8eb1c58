//! `holdpoint`: parse the command line, then hand over to [`holdpoint::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = holdpoint::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("holdpoint: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(holdpoint::cli::run(cli))
}
