//! Exchange tables (to be written).
