mod concurrency;
mod frames;
mod other;
mod props;
mod table;
mod tcp;
