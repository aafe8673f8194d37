//! The `needlemap` command: see `needlemap --help`.

fn main() -> std::process::ExitCode {
    needlemap::app::main()
}
