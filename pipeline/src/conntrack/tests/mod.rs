mod concurrency;
mod datapath;
mod frag;
mod frames;
mod other;
mod props;
mod table;
mod tcp;
