mod concurrency;
mod datapath;
mod frag;
pub(crate) mod frames;
mod nat;
mod other;
mod props;
mod table;
mod tcp;
