fn main() -> std::process::ExitCode {
    spantop::cli::main()
}
