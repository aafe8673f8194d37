//! The input model: a scene (zones, passes, hand, analysis), the cartridge
//! and trajectories, parsed from text and validated once.

pub mod cartridge;
pub mod scene;
pub mod trajectory;
