//! The shared benchmark workload (to be written).
