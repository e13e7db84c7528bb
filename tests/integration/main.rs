//! Integration tests, linked once (STYLE 11): one module per area.

#[path = "../model/mod.rs"]
mod model;

mod async_rpc;
mod broker_model;
#[cfg(not(loom))]
mod c_abi;
mod cli;
mod dispatch_acks;
mod durability;
mod install;
mod limits;
mod route;
mod topic;
mod topology;
mod tutorials;
mod workload;
