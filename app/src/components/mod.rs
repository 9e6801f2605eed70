pub mod chart;
pub mod file;
pub mod header;
pub mod time;
