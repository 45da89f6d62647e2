//! The commands: clap arguments and the wiring of sources -> pipeline -> views, one file per
//! command. Kept thin; the work is in the library modules.

pub mod args;
pub mod convert;
pub mod replay;
pub mod report;
pub mod simulate;
