// Imported first by the pinmesh binary, before anything can start libuv's thread pool (which reads
// this once). A checkpoint writes and fsyncs hundreds of shard state files: with the default 4
// threads they queue (and the WAL's fdatasync, which acknowledges pins, queues behind them), while
// ext4 commits concurrent fsyncs together (1,024 files: 0.9 s with 4 threads, 0.23 s with 32).
process.env.UV_THREADPOOL_SIZE ??= '32'
