//! Naive reference models that the fast paths are checked against (STYLE 11).
#![allow(dead_code)]

pub(crate) mod broker;
pub(crate) mod broker_ops;
pub(crate) mod durable;
pub(crate) mod route;
pub(crate) mod topic;
