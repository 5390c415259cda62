//! `hvrun`: command-line front end of `hv-runner` (see `qemu/README.md`).

fn main() -> std::process::ExitCode {
    hv_runner::cli::main()
}
