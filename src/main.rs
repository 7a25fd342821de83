use std::process::ExitCode;

use clap::Parser;
use vitals::Cli;

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version, as the exit-code API says.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let (status, failure) = runtime.block_on(vitals::run(cli));
    if let Some((f, settings)) = failure {
        vitals::report_failure(&f, &settings);
    }
    status.into()
}
