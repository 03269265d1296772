//! The `geminal` binary: all behaviour lives in the library; `cli::main` parses and runs.

fn main() -> std::process::ExitCode {
    geminal::cli::main()
}
