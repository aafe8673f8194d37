//! `needlemap presets`: the cartridge presets with their sources.

use crate::app::Failure;
use crate::core::input::cartridge;

/// Runs `needlemap presets`.
pub fn run() -> Result<(), Failure> {
    println!("{:<12} {:<90} source", "preset", "description");
    for p in cartridge::PRESETS {
        println!("{:<12} {:<90} {}", p.name, p.description, p.source);
    }
    Ok(())
}
