// Ingest makes many small allocations per span; mimalloc halves their cost against glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    spantop::cmd::main()
}
