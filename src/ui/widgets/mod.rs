//! Pieces every screen shares: the sortable table, the header line, the tab bar, the footer
//! (filter prompt, status or key hints) and the help overlay.

pub mod footer;
pub mod header;
pub mod help;
pub mod table;
pub mod tabs;
