//! Integration tests, linked once (STYLE 11): one module per area.

#[path = "../model/mod.rs"]
mod model;

mod cli;
mod route;
mod topic;
mod workload;
mod smoke_tmp;
