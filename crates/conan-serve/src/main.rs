//! `conan-serve`: the web app's file server alone, for the demo (`conan serve` is the same).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "conan-serve", version, about = "Serve the built web app (the same server as `conan serve`)")]
struct Cli {
    #[command(flatten)]
    args: conan_serve::ServeArgs,
}

fn main() -> ExitCode {
    match conan_serve::serve(&Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
