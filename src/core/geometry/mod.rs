//! Geometry: chart-plane shapes, the analysis grid, zone meshes and their
//! charts, the built-in anatomy, mesh files and the seams between zones. It
//! imports nothing from the input model, the engine, studies or the trainer.

pub mod anatomy;
pub mod formats;
pub mod layout;
pub mod mesh;
pub mod obj;
pub mod seams;
pub mod shape;
