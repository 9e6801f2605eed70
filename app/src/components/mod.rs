pub mod chart;
pub mod header;
pub mod time;
