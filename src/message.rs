//! Message types (to be written).
