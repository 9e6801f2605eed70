pub mod card;
pub mod chart;
pub mod file;
pub mod header;
pub mod sparkline;
pub mod status;
pub mod time;
