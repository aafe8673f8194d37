//! The `needlemap` command: see `needlemap --help`.

// The engine allocates and frees large buffers (punctures, rasters) stage by
// stage; mimalloc reuses their pages instead of returning them to the system
// and faulting fresh zeroed pages in again (about a fifth of the run time of
// the 100 mm benchmark scene with the system allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    needlemap::app::main()
}
