//! What the command line says about itself: shell completions (`holdpoint completions
//! bash|zsh|fish|powershell|elvish`) and a man page (`holdpoint man`), both generated
//! from the same clap definition as the parser, so they cannot drift from it. Neither
//! reads the configuration or opens the store.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes the completion script for `shell` to stdout.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "holdpoint", &mut out);
    finish(out.flush())
}

/// Writes the man page (roff) to stdout: `holdpoint man > holdpoint.1`.
pub fn man() -> ExitCode {
    let page = clap_mangen::Man::new(Cli::command());
    let mut out = std::io::stdout().lock();
    finish(page.render(&mut out).and_then(|()| out.flush()))
}

fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not worth more than the exit status.
        Err(error) => {
            eprintln!("holdpoint: cannot write: {error}");
            ExitCode::FAILURE
        }
    }
}
