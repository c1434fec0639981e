mod concurrency;
mod datapath;
mod frames;
mod other;
mod props;
mod table;
mod tcp;
