pub mod chart;
pub mod file;
pub mod header;
pub mod status;
pub mod time;
