// One test at a time, in the whole assembly. TorchSharp passes Scalars (and chained temporary tensors) to
// libtorch without keeping them alive for the call, so a garbage collection started by a test on another thread
// can finalize one mid-call (seen in CI as "Expected false to be true … toFloat" in a BERT forward). The library
// and sample hold their Scalars (ScalarLifetimeTests), but TorchSharp's own optimizers still make them on the
// fly; a training loop on one thread never collects during its own native calls; tests running beside it would.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
